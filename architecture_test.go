package jobsphere_test

import (
	"strings"
	"testing"

	"golang.org/x/tools/go/packages"
)

const module = "github.com/jobsphere/jobsphere"

// TestPackageGraph holds the layering docs/architecture.md draws:
// payments may use market, never the reverse; stripe-go is imported only
// by the Stripe adapter and the two tools (and tests).
func TestPackageGraph(t *testing.T) {
	pkgs, err := packages.Load(&packages.Config{Mode: packages.NeedName | packages.NeedImports | packages.NeedDeps}, "./...")
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]*packages.Package{}
	packages.Visit(pkgs, nil, func(p *packages.Package) { byPath[p.PkgPath] = p })
	if deps := transitive(byPath[module+"/market"]); deps[module+"/payments"] {
		t.Errorf("market depends on payments: one direction only (payments uses market)")
	}
	allowed := map[string]bool{module + "/payments/stripe": true, module + "/server/servertest": true, module + "/cmd/jobsphere-bench": true, module + "/cmd/jobsphere-chaos": true}
	for path, p := range byPath {
		if !strings.HasPrefix(path, module) {
			continue
		}
		for imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/stripe/stripe-go/") && !allowed[path] {
				t.Errorf("%s imports %s: only the Stripe adapter (payments/stripe) may", path, imp)
			}
		}
	}
	if len(byPath) < 20 {
		t.Fatalf("read %d packages; the check cannot have seen the code", len(byPath))
	}
}

// transitive is every package p depends on.
func transitive(p *packages.Package) map[string]bool {
	seen := map[string]bool{}
	var walk func(*packages.Package)
	walk = func(p *packages.Package) {
		for path, dep := range p.Imports {
			if !seen[path] {
				seen[path] = true
				walk(dep)
			}
		}
	}
	walk(p)
	return seen
}
