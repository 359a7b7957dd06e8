package loader

import (
	"strings"
)

// Column is one staging table column: its name and SQL type.
type Column struct{ Name, Type string }

// stagingColumns is the one statement of each staging table's columns, in
// COPY order: the DDL (StagingDDL), the COPY column lists and the drop
// derive from it, and the accept functions in Load fill values in this
// order. pos is the row's line number in its file, which orders features,
// photos and related as the reference API did; skus and photos carry their
// product_id (known from the styles already read) so that documents are
// built from plain sorts. Prices are cents.
var stagingColumns = [len(Tables)][]Column{
	Products: {{"id", "integer NOT NULL"}, {"name", "text NOT NULL"}, {"slogan", "text NOT NULL"},
		{"description", "text NOT NULL"}, {"category", "text NOT NULL"}, {"default_price", "bigint NOT NULL"}},
	Features: {{"id", "integer NOT NULL"}, {"product_id", "integer NOT NULL"}, {"pos", "integer NOT NULL"},
		{"feature", "text NOT NULL"}, {"value", "text"}}, // NULL: `null` in the export
	Styles: {{"id", "integer NOT NULL"}, {"product_id", "integer NOT NULL"}, {"name", "text NOT NULL"},
		{"sale_price", "bigint"}, // NULL: no sale
		{"original_price", "bigint NOT NULL"}, {"default_style", "boolean NOT NULL"}},
	Skus: {{"id", "integer NOT NULL"}, {"style_id", "integer NOT NULL"}, {"product_id", "integer NOT NULL"},
		{"pos", "integer NOT NULL"}, {"size", "text NOT NULL"}, {"quantity", "integer NOT NULL"}},
	Photos: {{"id", "integer NOT NULL"}, {"style_id", "integer NOT NULL"}, {"product_id", "integer NOT NULL"},
		{"pos", "integer NOT NULL"}, {"url", "text NOT NULL"}, {"thumbnail_url", "text NOT NULL"}},
	Related: {{"id", "integer NOT NULL"}, {"product_id", "integer NOT NULL"}, {"pos", "integer NOT NULL"},
		{"related_product_id", "integer NOT NULL"}},
}

// StagingColumns returns table t's staging columns.
func StagingColumns(t Table) []Column { return stagingColumns[t] }

func columnNames(t Table) []string {
	names := make([]string, len(stagingColumns[t]))
	for i, c := range stagingColumns[t] {
		names[i] = c.Name
	}
	return names
}

// StagingDDL creates the six staging tables in schema (a quoted
// identifier). UNLOGGED: they are rebuilt from the CSV files on any
// failure, so they need no WAL.
func StagingDDL(schema string) string {
	var b strings.Builder
	for _, t := range Tables {
		b.WriteString("CREATE UNLOGGED TABLE " + schema + "." + t.String() + " (")
		for i, c := range stagingColumns[t] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c.Name + " " + c.Type)
		}
		b.WriteString(");\n")
	}
	return b.String()
}

// DropStagingSQL drops the schema's staging tables, once the documents
// exist.
func DropStagingSQL(schema string) string {
	names := make([]string, len(Tables))
	for i, t := range Tables {
		names[i] = schema + "." + t.String()
	}
	return "DROP TABLE " + strings.Join(names, ", ")
}
