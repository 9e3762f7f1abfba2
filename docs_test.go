package jobsphere_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// The documentation is README.md and docs/*.md; these tests keep it true
// to the schema and its links whole, so a newcomer's first copy-paste works.

// markdownLine is one line of a document outside fenced code blocks.
type markdownLine struct {
	file string
	num  int
	text string
}

// doc is a Markdown file read once: its prose lines and its fenced blocks
// by language.
type doc struct {
	path   string
	prose  []markdownLine
	blocks map[string][]markdownLine // language → each block's text, at its first line
}

func readDocs(t *testing.T) []doc {
	t.Helper()
	paths, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	paths = append([]string{"README.md"}, paths...)
	var docs []doc
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		d := doc{path: path, blocks: map[string][]markdownLine{}}
		var fence *markdownLine
		var lang string
		for i, line := range strings.Split(string(b), "\n") {
			fenceLine := strings.HasPrefix(strings.TrimSpace(line), "```") // also indented, in a list item
			switch {
			case fence == nil && fenceLine:
				lang = strings.TrimPrefix(strings.TrimSpace(line), "```")
				fence = &markdownLine{file: path, num: i + 1}
			case fence != nil && fenceLine:
				d.blocks[lang] = append(d.blocks[lang], *fence)
				fence = nil
			case fence != nil:
				fence.text += line + "\n"
			default:
				d.prose = append(d.prose, markdownLine{file: path, num: i + 1, text: line})
			}
		}
		if fence != nil {
			t.Errorf("%s:%d: a code block that never ends", path, fence.num)
		}
		docs = append(docs, d)
	}
	return docs
}

func loadSchema(t *testing.T) *ast.Schema {
	t.Helper()
	b, err := os.ReadFile("schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: string(b)})
	if gerr != nil {
		t.Fatal(gerr)
	}
	return schema
}

// signature is a root field as docs/api.md writes it:
// `createJob(input: CreateJobInput!): Job!` (no directives).
func signature(f *ast.FieldDefinition) string {
	var args []string
	for _, a := range f.Arguments {
		arg := a.Name + ": " + a.Type.String()
		if a.DefaultValue != nil {
			arg += " = " + a.DefaultValue.String()
		}
		args = append(args, arg)
	}
	s := f.Name
	if len(args) > 0 {
		s += "(" + strings.Join(args, ", ") + ")"
	}
	return s + ": " + f.Type.String()
}

var (
	codeSpan      = regexp.MustCompile("`([^`]+)`")
	signatureLike = regexp.MustCompile(`^([a-z][A-Za-z0-9]*)(\(.*\))?: [\[\]A-Za-z0-9!]+$`)
)

// TestDocsAPI: every query, mutation and subscription is in docs/api.md
// with its signature as the schema has it, and no document writes a root
// field's signature any other way.
func TestDocsAPI(t *testing.T) {
	schema := loadSchema(t)
	want := map[string][]string{} // root field name → its signatures (deposit is a query and a mutation)
	var all []string
	for _, root := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
		for _, f := range root.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			want[f.Name] = append(want[f.Name], signature(f))
			all = append(all, signature(f))
		}
	}
	if len(all) < 60 {
		t.Fatalf("read %d root fields; the schema cannot have been read", len(all))
	}
	documented := map[string]bool{}
	for _, d := range readDocs(t) {
		for _, line := range d.prose {
			for _, m := range codeSpan.FindAllStringSubmatch(line.text, -1) {
				sig := signatureLike.FindStringSubmatch(m[1])
				if sig == nil || want[sig[1]] == nil {
					continue
				}
				if !slices.Contains(want[sig[1]], m[1]) {
					t.Errorf("%s:%d: `%s`; the schema has %s", line.file, line.num, m[1], strings.Join(want[sig[1]], " and "))
				}
				if line.file == "docs/api.md" {
					documented[m[1]] = true
				}
			}
		}
	}
	for _, s := range all {
		if !documented[s] {
			t.Errorf("docs/api.md does not document `%s`", s)
		}
	}
}

// TestDocsGraphQL: every graphql block of the documents is one valid
// document for the schema, so each selection shown works as written.
func TestDocsGraphQL(t *testing.T) {
	schema := loadSchema(t)
	n := 0
	for _, d := range readDocs(t) {
		for _, block := range d.blocks["graphql"] {
			n++
			if _, err := gqlparser.LoadQuery(schema, block.text); err != nil {
				t.Errorf("%s:%d: %v\n%s", block.file, block.num, err, block.text)
			}
		}
	}
	if n == 0 {
		t.Fatal("no graphql block found")
	}
}

var (
	link     = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)\)`)
	autolink = regexp.MustCompile(`<([a-z]+:[^>\s]+)>`)
	heading  = regexp.MustCompile(`^#{1,6} (.+)$`)
)

// TestDocsLinks: every relative link of README.md and docs/*.md names a
// file of the repository (never one outside it, like ../shared) and, with
// an #anchor, a heading of that file; links out go to public https sites,
// or to the reader's own server on localhost.
func TestDocsLinks(t *testing.T) {
	docs := readDocs(t)
	anchors := map[string]map[string]bool{}
	for _, d := range docs {
		anchors[d.path] = headingAnchors(d)
	}
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range docs {
		for _, line := range d.prose {
			text := codeSpan.ReplaceAllString(line.text, "")
			var targets []string
			for _, m := range link.FindAllStringSubmatch(text, -1) {
				targets = append(targets, m[1])
			}
			for _, m := range autolink.FindAllStringSubmatch(text, -1) {
				targets = append(targets, m[1])
			}
			for _, target := range targets {
				n++
				if err := checkLink(root, d.path, target, anchors); err != nil {
					t.Errorf("%s:%d: link %s: %v", line.file, line.num, target, err)
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("found %d links; the documents cannot have been read", n)
	}
}

func checkLink(root, from, target string, anchors map[string]map[string]bool) error {
	if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
		if strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "http://localhost:") {
			return nil
		}
		return fmt.Errorf("links out go to https:// sites only")
	}
	path, anchor, _ := strings.Cut(target, "#")
	file := from
	if path != "" {
		file = filepath.Join(filepath.Dir(from), path)
		abs, err := filepath.Abs(file)
		if err != nil {
			return err
		}
		if rel, err := filepath.Rel(root, abs); err != nil || strings.HasPrefix(rel, "..") {
			return fmt.Errorf("outside the repository: a clone does not have it")
		}
		if _, err := os.Stat(file); err != nil {
			return fmt.Errorf("no such file")
		}
	}
	if anchor == "" {
		return nil
	}
	have, ok := anchors[filepath.ToSlash(file)]
	if !ok {
		return fmt.Errorf("an anchor into a file that is not one of the documents")
	}
	if !have[anchor] {
		return fmt.Errorf("%s has no heading #%s", file, anchor)
	}
	return nil
}

// headingAnchors are a document's headings as GitHub makes their anchors:
// lower case, punctuation dropped, spaces as hyphens, repeats numbered.
func headingAnchors(d doc) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range d.prose {
		m := heading.FindStringSubmatch(line.text)
		if m == nil {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		slug := b.String()
		if k := seen[slug]; k > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, k)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}

var tableSeparator = regexp.MustCompile(`^\|( *:?-+:? *\|)+$`)

// TestDocsTables: every table starts with its header and separator rows,
// so none is broken in two by a blank line.
func TestDocsTables(t *testing.T) {
	for _, d := range readDocs(t) {
		var table []markdownLine // the rows of the table being read
		for i, line := range d.prose {
			if strings.HasPrefix(line.text, "|") {
				table = append(table, line)
			}
			last := i == len(d.prose)-1 || !strings.HasPrefix(d.prose[i+1].text, "|") || d.prose[i+1].num != line.num+1
			if len(table) > 0 && last {
				if len(table) < 2 || !tableSeparator.MatchString(table[1].text) {
					t.Errorf("%s:%d: a table without its header and separator (|---|) rows: one cut in two by a blank line?", line.file, table[0].num)
				}
				table = nil
			}
		}
	}
}
