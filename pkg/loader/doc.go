// Package loader reads, checks and COPYs the six CSV files of the export
// (product.csv, features.csv, styles.csv, skus.csv, photos.csv,
// related.csv) into PostgreSQL.
//
// # Reading
//
// A [Scanner] streams one file as typed rows ([Product], [Feature],
// [Style], [Sku], [Photo], [RelatedProduct]) without holding the file in
// memory and without allocating per row: text fields are slices of its read
// buffer, valid until the next [Scanner.Scan]. It implements section 1 of
// the contract:
//
//   - The header is mapped by name (the row types' csv tags), ignoring case,
//     underscores, spaces and a byte-order mark; extra columns are ignored,
//     a missing one is an error wrapping [ErrMissingColumn].
//   - RFC 4180 quoting: any field may be quoted, quoted fields hold commas,
//     doubled quotes and line breaks ("\r\n" inside one becomes "\n"). LF or
//     CRLF line ends; the last line may lack one; blank lines are skipped but
//     counted, so line numbers are the file's physical ones (header = 1).
//   - Quotes are strict: a quote inside an unquoted field, or text after a
//     closing quote, rejects the line ("bad_quote").
//   - Nullable columns (features.value, styles.sale_price): an empty field or
//     the unquoted word null, in any case, is NULL; a quoted "null" is the
//     text null. A sale_price of 0 is NULL (no sale); so is a quoted empty
//     one. A quoted empty features.value is the empty text, not NULL, as in
//     PostgreSQL's COPY CSV. In the other text columns null and empty are
//     text.
//   - A row's own id is 1..2147483647. A reference to another row
//     (product_id, styleId, current_product_id, related_product_id) is
//     0..2147483647: 0 is well-formed but names no row, so the COPY side
//     rejects it as an orphan, which is how the contract classes it.
//     Quantities are 0..2147483647. Prices are non-negative decimals with at
//     most two fraction digits (".5" and "5." are read as PostgreSQL reads
//     them), up to [MaxCents]. default_style is 1, 0, true or false in any
//     case. Numbers and booleans may be quoted and padded with spaces or tabs.
//   - Invalid UTF-8 or a NUL byte anywhere in a line rejects it: PostgreSQL
//     text would refuse it and abort the whole COPY.
//
// # Broken lines
//
// A broken line never swallows the lines after it. When a line ends inside
// a quoted field, the Scanner first tries a record spanning the next lines
// (at most [MaxExtraLines] lines and [MaxExtraBytes] bytes, strict quotes,
// accepted only if it ends at a line end with the header's field count and
// decodes); then the line alone with one closing quote added at its end
// (loaded, with a repaired Issue "missing_closing_quote"); else it rejects
// that one line ("unbalanced_quotes") and goes on with the next one. Lines
// longer than [MaxLineBytes] are rejected ("line_too_long") without being
// held in memory.
//
// Each rejected or repaired line is an [Issue] with its line number, a
// stable reason (the Reason constants) and its raw text. [Scanner.Issues]
// returns those met during the last Scan, which the caller drains after
// every Scan, including the last one that returns false. Checks across rows
// or files (repeated ids, orphans) belong to the COPY side.
package loader
