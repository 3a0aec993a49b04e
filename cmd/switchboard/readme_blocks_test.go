package main

// The README walkthrough as data: its shell blocks, the answers documented
// after them, and how an output is compared with a documented answer. The
// conventions are the ones the walkthrough's opening comment states:
//
//   - a `sh` block is run; the `http`, `json` or `text` block after it is
//     its documented answer (a block with no answer must print nothing);
//   - "…" stands for any text inside a line or a JSON string, for any JSON
//     value, for the other members of an object, for any elements of an
//     array (or any JSON values of a stream), and, alone on a line of a
//     `text` answer, for any lines;
//   - `http`: the status line, then headers that must be among the
//     answer's (others may be there too), then after a blank line the body
//     as `json`;
//   - `text`: line by line, runs of spaces counting as one;
//   - `<!-- repeat: 30s -->` before a block lets it run again, up to that
//     long, until its answer shows.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ellipsis is the README's wildcard.
const ellipsis = "…"

// anyJSON stands for a bare … in a JSON answer: any value in a value's
// place, any members in a member's place, any elements in an element's.
const anyJSON = "\x00…"

// readmeStep is one shell block of the walkthrough and its answer.
type readmeStep struct {
	line   int    // the block's first line in README.md
	script string // the block's text
	repeat time.Duration
	// lang and answer are the documented answer's language and text; lang
	// is "" when the README documents none.
	lang, answer string
	startHub     bool // the `make run` block
}

var (
	fenceRE  = regexp.MustCompile("(?m)^```([a-z]*)[ \t]*\n")
	repeatRE = regexp.MustCompile(`<!--\s*repeat:\s*(\S+)\s*-->\s*$`)
)

// walkthroughSteps returns the steps of README's "## Walkthrough" section.
func walkthroughSteps(readme string) ([]readmeStep, error) {
	start := strings.Index(readme, "\n## Walkthrough\n")
	if start < 0 {
		return nil, fmt.Errorf(`README.md has no "## Walkthrough" section`)
	}
	end := strings.Index(readme[start+1:], "\n## ")
	if end < 0 {
		end = len(readme)
	} else {
		end += start + 1
	}
	section := readme[start:end]
	lineOf := func(off int) int { return strings.Count(readme[:start+off], "\n") + 1 }

	var steps []readmeStep
	pos := 0
	for {
		m := fenceRE.FindStringSubmatchIndex(section[pos:])
		if m == nil {
			break
		}
		lang := section[pos+m[2] : pos+m[3]]
		bodyStart := pos + m[1]
		close := strings.Index(section[bodyStart:], "\n```")
		if close < 0 && !strings.HasPrefix(section[bodyStart:], "```") {
			return nil, fmt.Errorf("README.md:%d: a block that is never closed", lineOf(pos+m[0]))
		}
		body := ""
		next := bodyStart + 3
		if close >= 0 {
			body = section[bodyStart : bodyStart+close+1]
			next = bodyStart + close + 4
		}
		before := section[pos : pos+m[0]]
		pos = next
		switch lang {
		case "sh":
			s := readmeStep{line: lineOf(bodyStart), script: body}
			if strings.TrimSpace(body) == "make run" {
				s.startHub = true
			}
			if rm := repeatRE.FindStringSubmatch(before); rm != nil {
				d, err := time.ParseDuration(rm[1])
				if err != nil {
					return nil, fmt.Errorf("README.md:%d: repeat %q: %v", s.line, rm[1], err)
				}
				s.repeat = d
			}
			steps = append(steps, s)
		case "http", "json", "text":
			if len(steps) == 0 || steps[len(steps)-1].lang != "" {
				return nil, fmt.Errorf("README.md:%d: a %s answer that follows no command", lineOf(bodyStart), lang)
			}
			steps[len(steps)-1].lang, steps[len(steps)-1].answer = lang, body
		default:
			return nil, fmt.Errorf("README.md:%d: a ```%s block in the walkthrough: commands are sh; answers http, json or text", lineOf(bodyStart), lang)
		}
	}
	if len(steps) == 0 || !steps[0].startHub {
		return nil, fmt.Errorf("the walkthrough does not start with a `make run` block")
	}
	return steps, nil
}

// matchAnswer compares a command's output with its documented answer and
// says where they differ.
func matchAnswer(lang, answer, output string) error {
	switch lang {
	case "":
		if strings.TrimSpace(output) != "" {
			return fmt.Errorf("the command printed something and the README shows no answer for it")
		}
		return nil
	case "http":
		return matchHTTP(answer, output)
	case "json":
		return matchJSONText(answer, output)
	case "text":
		return matchText(answer, output)
	}
	return fmt.Errorf("unknown answer language %q", lang)
}

// matchHTTP compares `curl -i` output with an http answer: the status line,
// the headers shown (among the answer's, names in any case), then the body.
func matchHTTP(answer, output string) error {
	out := strings.ReplaceAll(output, "\r\n", "\n")
	out = strings.TrimLeft(out, "\n")
	// Interim answers (100 Continue to a large body) come first.
	for strings.HasPrefix(out, "HTTP/") {
		status := strings.Fields(strings.SplitN(out, "\n", 2)[0])
		if len(status) < 2 || !strings.HasPrefix(status[1], "1") {
			break
		}
		i := strings.Index(out, "\n\n")
		if i < 0 {
			break
		}
		out = out[i+2:]
	}
	outHead, outBody, _ := strings.Cut(out, "\n\n")
	ansHead, ansBody, _ := strings.Cut(strings.TrimLeft(answer, "\n"), "\n\n")
	outLines, ansLines := strings.Split(outHead, "\n"), strings.Split(ansHead, "\n")
	if !sameStatus(ansLines[0], outLines[0]) {
		return fmt.Errorf("status line %q, documented %q", outLines[0], ansLines[0])
	}
	for _, want := range ansLines[1:] {
		name, value, ok := strings.Cut(want, ":")
		if !ok {
			return fmt.Errorf("documented header %q has no colon", want)
		}
		found := false
		for _, got := range outLines[1:] {
			gn, gv, _ := strings.Cut(got, ":")
			if strings.EqualFold(strings.TrimSpace(gn), strings.TrimSpace(name)) &&
				linePattern(strings.TrimSpace(value)).MatchString(squeeze(strings.TrimSpace(gv))) {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("no header %q in the answer", want)
		}
	}
	if strings.TrimSpace(ansBody) == "" {
		return nil
	}
	if err := matchJSONText(ansBody, outBody); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	return nil
}

// sameStatus compares a documented status line with curl's. Over HTTPS
// curl speaks HTTP/2, whose status line has no reason phrase ("HTTP/2
// 202"): the protocol version is the connection's, so an HTTP/2 line
// matches a documented HTTP/1.1 line with the same code.
func sameStatus(documented, got string) bool {
	if linePattern(documented).MatchString(squeeze(got)) {
		return true
	}
	d, g := strings.Fields(documented), strings.Fields(got)
	return len(d) >= 2 && len(g) >= 2 && g[0] == "HTTP/2" && strings.HasPrefix(d[0], "HTTP/1") &&
		linePattern(d[1]).MatchString(g[1])
}

// matchText compares lines, runs of spaces as one; "…" alone on a line
// stands for any lines, inside a line for any text.
func matchText(answer, output string) error {
	want := nonEmptyLines(answer)
	got := nonEmptyLines(output)
	if matchLines(want, got) {
		return nil
	}
	// Say where: the first documented line with no match in order.
	j := 0
	for _, w := range want {
		if w == ellipsis {
			continue
		}
		re := linePattern(w)
		for j < len(got) && !re.MatchString(got[j]) {
			j++
		}
		if j == len(got) {
			return fmt.Errorf("no line like %q (in order)", w)
		}
		j++
	}
	return fmt.Errorf("lines that the README does not show (add them, or a line of …)")
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if l = squeeze(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// matchLines matches got against want line by line, a line "…" taking any
// number of lines.
func matchLines(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == ellipsis {
		for i := 0; i <= len(got); i++ {
			if matchLines(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && linePattern(want[0]).MatchString(got[0]) && matchLines(want[1:], got[1:])
}

// squeeze trims a line and makes each run of spaces and tabs one space.
func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }

// linePattern is a whole-line pattern of s (squeezed), "…" matching any text.
func linePattern(s string) *regexp.Regexp {
	parts := strings.Split(squeeze(s), ellipsis)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// matchJSONText compares a stream of JSON values with a documented one.
func matchJSONText(answer, output string) error {
	want, err := decodeJSONStream(wildcards(answer))
	if err != nil {
		return fmt.Errorf("the README's JSON answer does not parse: %v", err)
	}
	got, err := decodeJSONStream(output)
	if err != nil {
		return fmt.Errorf("the output is not JSON: %v", err)
	}
	if len(want) == 1 && want[0] != anyJSON && len(got) == 1 {
		return matchValue("", want[0], got[0])
	}
	return matchArray("", want, got)
}

func decodeJSONStream(s string) ([]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var out []any
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// wildcards turns each bare … (outside strings) of a documented JSON
// answer into JSON: a member "\u0000…": null in an object where a key
// belongs, the string "\u0000…" elsewhere.
func wildcards(s string) string {
	type frame struct{ object, expectKey bool }
	var stack []frame
	var b strings.Builder
	inString, escaped := false, false
	for _, r := range s {
		if inString {
			b.WriteRune(r)
			switch {
			case escaped:
				escaped = false
			case r == '\\':
				escaped = true
			case r == '"':
				inString = false
			}
			continue
		}
		top := func() *frame {
			if len(stack) == 0 {
				return nil
			}
			return &stack[len(stack)-1]
		}
		switch r {
		case '"':
			inString = true
		case '{':
			stack = append(stack, frame{object: true, expectKey: true})
		case '[':
			stack = append(stack, frame{})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ':':
			if f := top(); f != nil {
				f.expectKey = false
			}
		case ',':
			if f := top(); f != nil && f.object {
				f.expectKey = true
			}
		case '…':
			if f := top(); f != nil && f.object && f.expectKey {
				b.WriteString(`"\u0000…":null`)
			} else {
				b.WriteString(`"\u0000…"`)
			}
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// matchValue compares one answered JSON value with a documented one; path
// names it in the error.
func matchValue(path string, want, got any) error {
	switch w := want.(type) {
	case string:
		if w == anyJSON {
			return nil
		}
		g, ok := got.(string)
		if !ok {
			return fmt.Errorf("%s: documented the string %q, answered %s", orRoot(path), w, short(got))
		}
		if strings.Contains(w, ellipsis) {
			if !linePatternExact(w).MatchString(g) {
				return fmt.Errorf("%s: %q is not like the documented %q", orRoot(path), g, w)
			}
			return nil
		}
		if g != w {
			return fmt.Errorf("%s: answered %q, documented %q", orRoot(path), g, w)
		}
	case json.Number:
		g, ok := got.(json.Number)
		wf, _ := strconv.ParseFloat(string(w), 64)
		gf, _ := strconv.ParseFloat(string(g), 64)
		if !ok || wf != gf {
			return fmt.Errorf("%s: answered %s, documented %s", orRoot(path), short(got), w)
		}
	case bool, nil:
		if got != want {
			return fmt.Errorf("%s: answered %s, documented %v", orRoot(path), short(got), want)
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: answered %s, documented an object", orRoot(path), short(got))
		}
		_, open := w[anyJSON]
		keys := make([]string, 0, len(w))
		for k := range w {
			if k != anyJSON {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s: no %q in the answer", orRoot(path), k)
			}
			if err := matchValue(path+"."+k, w[k], gv); err != nil {
				return err
			}
		}
		if !open {
			var extra []string
			for k := range g {
				if _, ok := w[k]; !ok {
					extra = append(extra, k)
				}
			}
			if len(extra) > 0 {
				sort.Strings(extra)
				return fmt.Errorf("%s: the answer has %q, which the README does not show (add them, or …)", orRoot(path), extra)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Errorf("%s: answered %s, documented an array", orRoot(path), short(got))
		}
		return matchArray(path, w, g)
	default:
		return fmt.Errorf("%s: cannot compare %T", orRoot(path), want)
	}
	return nil
}

// matchArray matches elements in order, a documented … taking any number.
func matchArray(path string, want, got []any) error {
	open := false
	for _, w := range want {
		if w == anyJSON {
			open = true
		}
	}
	if !open {
		if len(want) != len(got) {
			return fmt.Errorf("%s: %d elements answered, %d documented", orRoot(path), len(got), len(want))
		}
		for i := range want {
			if err := matchValue(fmt.Sprintf("%s[%d]", path, i), want[i], got[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if seqMatches(path, want, got) {
		return nil
	}
	// Say which documented element found no match in order.
	j := 0
	for i, w := range want {
		if w == anyJSON {
			continue
		}
		var last error
		for ; j < len(got); j++ {
			if last = matchValue(fmt.Sprintf("%s[%d]", path, j), w, got[j]); last == nil {
				break
			}
		}
		if j == len(got) {
			if last == nil {
				last = fmt.Errorf("nothing left to match")
			}
			return fmt.Errorf("%s: documented element %d matches nothing in order (last try: %v)", orRoot(path), i, last)
		}
		j++
	}
	return fmt.Errorf("%s: answered elements the README does not show (add them, or …)", orRoot(path))
}

func seqMatches(path string, want, got []any) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == anyJSON {
		for i := 0; i <= len(got); i++ {
			if seqMatches(path, want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && matchValue(path, want[0], got[0]) == nil && seqMatches(path, want[1:], got[1:])
}

// linePatternExact is a pattern of the whole string s, "…" matching any
// text, spaces as they are.
func linePatternExact(s string) *regexp.Regexp {
	parts := strings.Split(s, ellipsis)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("(?s)^" + strings.Join(parts, ".*") + "$")
}

func orRoot(path string) string {
	if path == "" {
		return "the answer"
	}
	return "$" + path
}

// short renders v for an error, cut to a readable length.
func short(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	s := strings.TrimSpace(b.String())
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
