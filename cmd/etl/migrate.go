package main

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/elier/catalogue/pkg/cart"
)

// migrateCmd creates or updates the schemas the programs need but do not
// build: the catalogue's control schema comes with every load, the cart's
// (sql/cart.sql) with every load and rollback and with this command, which
// a deployment runs before the first API starts (the API does no DDL).
func (a *app) migrateCmd() *cobra.Command {
	var db dbFlags
	c := &cobra.Command{
		Use:   "migrate",
		Short: "Create or update the cart's schema (elier_cart); idempotent",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPool(cmd.Context(), db, func(pool *pgxpool.Pool) error {
				if err := cart.Migrate(cmd.Context(), pool); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, "the cart schema is up to date")
				return nil
			})
		},
	}
	dbFlag(c, &db)
	return c
}
