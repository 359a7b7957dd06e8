package build

import (
	"context"
	"fmt"
	"iter"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/elier/catalogue/pkg/loader"
	"github.com/elier/catalogue/pkg/readmodel"
)

// writeList COPYs build id's list order into elier.list_ids: the product
// ids ascending, readmodel.ListChunk to a row. The rows of a build that
// never goes live are debris that the next run deletes.
func writeList(ctx context.Context, conn *pgxpool.Conn, id int64, products *loader.IDSet) error {
	next, stop := iter.Pull(iter.Seq[int32](products.Ascending))
	defer stop()
	chunk := make([]int32, 0, readmodel.ListChunk)
	n := int32(0)
	src := pgx.CopyFromFunc(func() ([]any, error) {
		chunk = chunk[:0]
		for len(chunk) < readmodel.ListChunk {
			p, ok := next()
			if !ok {
				break
			}
			chunk = append(chunk, p)
		}
		if len(chunk) == 0 {
			return nil, nil
		}
		n++
		return []any{id, n - 1, chunk}, nil
	})
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"elier", "list_ids"}, []string{"build_id", "chunk", "ids"}, src); err != nil {
		return fmt.Errorf("writing the list order: %w", err)
	}
	return nil
}
