package jobsphere_test

import (
	"go/ast"
	"go/types"
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

// TestStatusesChangeOnlyInMoveFunctions: a status is changed only by its
// aggregate's move function (a conditional update on its transition
// table), never by an update written elsewhere. The check reads every
// non-generated package with its types: a SetStatus (or ClearStatus) on
// an ent update builder must sit in a function whose name starts with
// "move". Creating a row with its first status is not a move.
func TestStatusesChangeOnlyInMoveFunctions(t *testing.T) {
	cfg := &packages.Config{Mode: packages.NeedName | packages.NeedFiles | packages.NeedSyntax | packages.NeedTypes | packages.NeedTypesInfo}
	pkgs, err := packages.Load(cfg, "./...")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range pkgs {
		if strings.HasPrefix(p.PkgPath, "github.com/jobsphere/jobsphere/ent") && !strings.HasPrefix(p.PkgPath, "github.com/jobsphere/jobsphere/ent/schema") {
			continue // generated
		}
		for _, e := range p.Errors {
			t.Errorf("load %s: %v", p.PkgPath, e)
		}
		for _, f := range p.Syntax {
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Body == nil || strings.HasPrefix(strings.ToLower(fn.Name.Name), "move") {
					continue
				}
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					sel, ok := call.Fun.(*ast.SelectorExpr)
					if !ok || (sel.Sel.Name != "SetStatus" && sel.Sel.Name != "ClearStatus") {
						return true
					}
					checked++
					if isEntUpdate(p.TypesInfo.TypeOf(sel.X)) {
						t.Errorf("%s: %s sets a status outside a move function", p.Fset.Position(call.Pos()), fn.Name.Name)
					}
					return true
				})
			}
		}
	}
	if len(pkgs) < 10 {
		t.Fatalf("read %d packages; the check cannot have seen the code", len(pkgs))
	}
}

// isEntUpdate reports whether t is one of ent's update builders
// (*ent.JobUpdate, *ent.OfferUpdateOne, …).
func isEntUpdate(t types.Type) bool {
	ptr, ok := t.(*types.Pointer)
	if !ok {
		return false
	}
	named, ok := ptr.Elem().(*types.Named)
	if !ok || named.Obj().Pkg() == nil || named.Obj().Pkg().Path() != "github.com/jobsphere/jobsphere/ent" {
		return false
	}
	name := named.Obj().Name()
	return strings.HasSuffix(name, "Update") || strings.HasSuffix(name, "UpdateOne")
}
