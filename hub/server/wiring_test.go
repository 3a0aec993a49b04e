package server_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// maxNewLines is how long New's body may grow: past it, New no longer
// reads top to bottom, and a part belongs in a builder of its own.
const maxNewLines = 80

func TestNewStaysShort(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "server.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv != nil || fn.Name.Name != "New" {
			continue
		}
		lines := fset.Position(fn.Body.Rbrace).Line - fset.Position(fn.Body.Lbrace).Line - 1
		if lines > maxNewLines {
			t.Errorf("server.New's body is %d lines, more than %d: move a part of it into a named builder", lines, maxNewLines)
		}
		return
	}
	t.Fatal("server.go declares no func New")
}

// TestNothingIsPluggedInLate fails when a function of this package assigns
// an exported field of a value it built itself (x := &T{...}; x.Field = y):
// each object is built once, with all its dependencies, in dependency order.
func TestNothingIsPluggedInLate(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var found []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Body != nil {
				found = append(found, lateAssignments(fset, fn)...)
			}
		}
	}
	for _, f := range found {
		t.Errorf("%s: exported field assigned after its value was built; give it to the constructor or literal", f)
	}
}

// lateAssignments lists the assignments in fn to an exported field of a
// variable fn declares.
func lateAssignments(fset *token.FileSet, fn *ast.FuncDecl) []string {
	locals := map[*ast.Object]bool{}
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			if n.Tok == token.DEFINE {
				for _, l := range n.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Obj != nil {
						locals[id.Obj] = true
					}
				}
			}
		case *ast.ValueSpec:
			for _, id := range n.Names {
				if id.Obj != nil {
					locals[id.Obj] = true
				}
			}
		}
		return true
	})
	var found []string
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || as.Tok == token.DEFINE {
			return true
		}
		for _, l := range as.Lhs {
			sel, ok := l.(*ast.SelectorExpr)
			if !ok || !sel.Sel.IsExported() {
				continue
			}
			if id, ok := sel.X.(*ast.Ident); ok && id.Obj != nil && locals[id.Obj] {
				found = append(found, fset.Position(as.Pos()).String()+": "+id.Name+"."+sel.Sel.Name+" in "+fn.Name.Name)
			}
		}
		return true
	})
	return found
}

// The check above must see what it looks for.
func TestLateAssignmentsAreFound(t *testing.T) {
	const src = `package p
func f() {
	a := &T{}
	a.Store = s
	var b T
	b.DB, b.x = d, 1
	c := g()
	c.y = 2
	p.Z = 3
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := lateAssignments(fset, f.Decls[0].(*ast.FuncDecl))
	want := []string{"a.Store in f", "b.DB in f"}
	if len(got) != len(want) {
		t.Fatalf("found %v, want %v", got, want)
	}
	for i := range want {
		if !strings.HasSuffix(got[i], want[i]) {
			t.Errorf("found %q, want %q", got[i], want[i])
		}
	}
}
