package graphiql

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/jobsphere/jobsphere/client"
)

// example is one operation of client/operations, ready to run: its text
// with the comment above it, then every fragment it spreads.
type example struct {
	Name     string `json:"name"`
	File     string `json:"file"` // e.g. auth.graphql
	Document string `json:"document"`
}

// definition is one operation or fragment as its file has it.
type definition struct {
	text       string
	selections ast.SelectionSet
}

// loadExamples reads the operation documents the apps use, in the order
// of their files (fragments may be spread across files).
func loadExamples() ([]example, error) {
	names, err := fs.Glob(client.Operations, "operations/*.graphql")
	if err != nil {
		return nil, fmt.Errorf("list the operations: %w", err)
	}
	fragments := map[string]definition{}
	type operation struct {
		name, file string
		definition
	}
	var operations []operation
	for _, name := range names {
		src, err := fs.ReadFile(client.Operations, name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		doc, err := parser.ParseQuery(&ast.Source{Name: name, Input: string(src)})
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		texts := definitionTexts(string(src), doc)
		for i, op := range doc.Operations {
			operations = append(operations, operation{op.Name, path.Base(name), definition{texts[i], op.SelectionSet}})
		}
		for i, f := range doc.Fragments {
			fragments[f.Name] = definition{texts[len(doc.Operations)+i], f.SelectionSet}
		}
	}
	examples := make([]example, 0, len(operations))
	for _, op := range operations {
		parts := []string{op.text}
		if err := appendFragments(&parts, op.selections, fragments, map[string]bool{}); err != nil {
			return nil, fmt.Errorf("%s: %w", op.name, err)
		}
		examples = append(examples, example{Name: op.name, File: op.file, Document: strings.Join(parts, "\n\n") + "\n"})
	}
	return examples, nil
}

// appendFragments appends the text of every fragment set spreads, directly
// or through other fragments, once each, in the order they are first
// spread.
func appendFragments(parts *[]string, set ast.SelectionSet, fragments map[string]definition, seen map[string]bool) error {
	for _, sel := range set {
		var inner ast.SelectionSet
		switch sel := sel.(type) {
		case *ast.Field:
			inner = sel.SelectionSet
		case *ast.InlineFragment:
			inner = sel.SelectionSet
		case *ast.FragmentSpread:
			if seen[sel.Name] {
				continue
			}
			f, ok := fragments[sel.Name]
			if !ok {
				return fmt.Errorf("spreads the unknown fragment %s", sel.Name)
			}
			seen[sel.Name] = true
			*parts = append(*parts, f.text)
			inner = f.selections
		}
		if err := appendFragments(parts, inner, fragments, seen); err != nil {
			return err
		}
	}
	return nil
}

// definitionTexts cuts src into the text of each of doc's definitions,
// operations first then fragments, each with the comment lines right above
// it. A definition ends at its last line that is neither blank nor a
// comment: what follows belongs to the next one, or to no one.
func definitionTexts(src string, doc *ast.QueryDocument) []string {
	lines := strings.Split(src, "\n")
	var starts []int // 0-based first line of each definition, in doc's order
	for _, op := range doc.Operations {
		starts = append(starts, op.Position.Line-1)
	}
	for _, f := range doc.Fragments {
		starts = append(starts, f.Position.Line-1)
	}
	isComment := func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "#") }
	texts := make([]string, len(starts))
	for i, start := range starts {
		end := len(lines) // the next definition in the file, wherever it is in doc
		for _, other := range starts {
			if other > start && other < end {
				end = other
			}
		}
		for end > start && (strings.TrimSpace(lines[end-1]) == "" || isComment(lines[end-1])) {
			end--
		}
		for start > 0 && isComment(lines[start-1]) {
			start--
		}
		texts[i] = strings.Join(lines[start:end], "\n")
	}
	return texts
}
