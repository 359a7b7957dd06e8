package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/elier/catalogue/pkg/generate"
)

// generateCmd writes a synthetic export, so the loader and the API can be
// exercised at any scale without the real 2 GB files.
func (a *app) generateCmd() *cobra.Command {
	var (
		products, revision, base int
		seed                     uint64
		change                   float64
		changes                  string
	)
	cmd := &cobra.Command{
		Use:   "generate [--products N] [--seed S] [--revision R [--change F] [--changes FILE [--base B]]] DIR",
		Short: "Write a synthetic export of the six CSV files, real defects included",
		Long: `Write product.csv, features.csv, styles.csv, skus.csv, photos.csv and
related.csv into DIR (created if missing) in exactly the real export's format,
about 2.3 KB per product, with the real export's defects: photo lines missing
a closing quote, related rows to product 0 or to themselves, duplicate pairs
and sizes, ids out of order, null prices and values, products without styles,
features or default style.

--revision R writes the same catalogue R days later: each day changes a
fraction --change of the products (sku quantities most often, then prices
and sale prices, feature values, styles added or removed, photos replaced
or reordered, related products), appends about 0.05% new products and
removes as many. Rows no day touched are byte for byte revision 0's; new
rows get ids above every id of earlier revisions. Revision 0 is the export
without --revision. --changes FILE lists the products that differ from
revision --base (default R-1, what an incremental load over the previous
day sees): one "changed,ID", "added,ID" or "removed,ID" line each, by id.
Revision R builds on revision R-1 written with the same --change.

The same flags always give byte-identical files. Files are written as
NAME.tmp and renamed when all are complete.`,
		Example: "  elier-etl generate --products 1000011 ./data\n" +
			"  elier-etl generate --products 1000011 --revision 1 --changes changes.csv ./data-r1",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("generate takes one directory, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if products < 0 || products > generate.MaxProducts {
				return usageError{fmt.Errorf("--products %d: must be 0..%d", products, generate.MaxProducts)}
			}
			if revision < 0 {
				return usageError{fmt.Errorf("--revision %d: must be 0 or more", revision)}
			}
			if !(change >= 0 && change <= 1) {
				return usageError{fmt.Errorf("--change %v: must be 0..1", change)}
			}
			if !cmd.Flags().Changed("base") {
				base = max(revision-1, 0)
			}
			if revision > 0 && (base < 0 || base >= revision) {
				return usageError{fmt.Errorf("--base %d: must be 0..%d", base, revision-1)}
			}
			if revision == 0 && (changes != "" || cmd.Flags().Changed("base") || cmd.Flags().Changed("change")) {
				return usageError{fmt.Errorf("--change, --changes and --base need --revision 1 or more")}
			}
			return a.generate(cmd.Context(), args[0], generate.Options{
				Products: products, Seed: seed,
				Revision: revision, Change: change, Changes: changes, Base: base,
			})
		},
	}
	cmd.Flags().IntVar(&products, "products", 10000, "number of products (the real export has 1000011)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "PRNG seed; the same seed gives the same files")
	cmd.Flags().IntVar(&revision, "revision", 0, "days since revision 0 (today's export)")
	cmd.Flags().Float64Var(&change, "change", generate.DefaultChange, "fraction of products each day changes, 0..1")
	cmd.Flags().StringVar(&changes, "changes", "", "write the products that differ from revision --base to this file")
	cmd.Flags().IntVar(&base, "base", 0, "revision --changes compares with (default: revision-1)")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	return cmd
}

func (a *app) generate(ctx context.Context, dir string, opts generate.Options) error {
	start := time.Now()
	tty := isTerminal(a.stderr)
	if tty {
		// One line, rewritten in place; the final newline is written below.
		opts.Progress = func(p generate.Progress) {
			pct := 100
			if p.Total > 0 {
				pct = int(int64(p.Done) * 100 / int64(p.Total))
			}
			fmt.Fprintf(a.stderr, "\rgenerating %s: %3d%% of %d products, %d MB written ",
				dir, pct, p.Total, p.Bytes>>20)
		}
	}
	st, err := generate.Write(ctx, dir, opts)
	if tty {
		fmt.Fprintln(a.stderr)
	}
	if err != nil {
		return err
	}
	attrs := []any{
		slog.String("dir", dir),
		slog.Int("products", st.Products),
		slog.Uint64("seed", opts.Seed),
		slog.Int("revision", opts.Revision),
		slog.Int64("rows", st.Rows()),
		slog.Int64("bytes", st.Bytes()),
		slog.Duration("elapsed", time.Since(start).Round(time.Millisecond)),
	}
	for _, f := range st.Files {
		attrs = append(attrs, slog.Group(strings.TrimSuffix(f.Name, ".csv"),
			slog.Int64("rows", f.Rows), slog.Int64("bytes", f.Bytes)))
	}
	d := st.Defects
	attrs = append(attrs, slog.Group("defects",
		slog.Int64("broken_photo_lines", d.BrokenPhotoLines),
		slog.Int64("related_to_zero", d.RelatedToZero),
		slog.Int64("self_related", d.SelfRelated),
		slog.Int64("duplicate_related", d.DuplicateRelated),
		slog.Int64("swapped_sku_ids", d.SwappedSkuIDs),
		slog.Int64("swapped_photo_ids", d.SwappedPhotoIDs),
		slog.Int64("duplicate_sizes", d.DuplicateSizes),
		slog.Int64("duplicate_features", d.DuplicateFeatures),
		slog.Int64("null_sale_prices", d.NullSalePrices),
		slog.Int64("null_feature_values", d.NullFeatureValues),
		slog.Int64("products_without_styles", d.ProductsWithoutStyles),
		slog.Int64("products_without_features", d.ProductsWithoutFeatures),
		slog.Int64("products_without_default", d.ProductsWithoutDefault),
	))
	if opts.Revision > 0 {
		attrs = append(attrs, slog.Group("changes",
			slog.Int("base", opts.Base),
			slog.Int("changed", st.Changed),
			slog.Int("added", st.Added),
			slog.Int("removed", st.Removed),
		))
	}
	a.log.InfoContext(ctx, "generated export", attrs...)
	return nil
}
