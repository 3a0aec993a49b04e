// Package docs keeps the repository's documentation honest about the code.
// It holds no code the hub runs; its tests (go test ./docs/) fail when
//
//   - a folder holding Go files is missing from the README's Layout table,
//     or the table names a folder that does not exist;
//   - a comment or document cites a decision record (docs/decisions/ and a
//     four-digit number) that does not exist, or cites it without its full
//     file name;
//   - two decision records share a number, one lacks a required section,
//     or the index in docs/decisions/README.md does not list it.
//
// The decision records themselves are Markdown files in docs/decisions.
package docs
