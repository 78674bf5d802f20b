package modelcheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// decisions are what only the domain and application layers may use or
// say: a step's events, the reasons, and the domain's
// decision functions. The model and its in-memory adapters calling or
// naming any of them would be a second copy of a rule.
var decisions = map[string][]string{
	"saga":   {"Forward", "Poison", "StartedOrder", "StoppedOrder", "ConsumedPoint", "FailedPoint", "RefundedPoint", "GrantedTicket", "FailedTicket", "CanceledTicket"},
	"event":  {"NewMessage"},
	"order":  {"Apply", "Stop", "Heal", "Check", "IDForKey"},
	"point":  {"Consume", "Refund"},
	"ticket": {"Grant", "Cancel", "PriceMatches"},
}

// stateFields are the fields whose value is a decision. Which shards a
// grant takes its tickets from (a ticket saga's taken) is not one: it is
// how the stock is stored, which the adapters choose with the records'
// helpers (records.Take, Saga.GiveBack) on the domain's decision of how
// many.
var stateFields = []string{"State", "Status", "Reason", "Amount", "Quantity", "Replays", "NextReplay", "GaveUp"}

// quantities are the amounts a domain weighs against what there is (an
// order's quantity against the stock: sold_out); an adapter or the model
// ordering one against anything would be deciding it.
var quantities = []string{"Quantity", "Amount"}

// TestNoRuleIsRepeated proves that the model uses the production rules:
// the in-memory adapters it drives import their service's application
// layer (its use cases and step table), and neither they nor the model
// name a decision, write a decided field, or weigh a quantity (is there
// enough?). Everything they do to a document, they do through the records'
// own mappings (SetDomain, FromDomain, Take, GiveBack) of what the
// application decided.
func TestNoRuleIsRepeated(t *testing.T) {
	files, err := filepath.Glob("../*-service/memory/*.go")
	if err != nil || len(files) != 3 {
		t.Fatalf("in-memory adapters: %v %v", files, err)
	}
	model, _ := filepath.Glob("*_test.go")
	for _, f := range slices.Concat(files, model) {
		if strings.HasSuffix(f, "norules_test.go") {
			continue
		}
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(f, "/memory/") {
			service := strings.Split(filepath.ToSlash(f), "/")[1]
			if !slices.ContainsFunc(file.Imports, func(s *ast.ImportSpec) bool {
				p, _ := strconv.Unquote(s.Path.Value)
				return p == "github.com/ticketsaga/saga/"+service+"/internal/app"
			}) {
				t.Errorf("%s does not run %s's application layer", f, service)
			}
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok && slices.Contains(decisions[x.Name], n.Sel.Name) {
					t.Errorf("%s: %s.%s is a decision of the domain or application layer", fset.Position(n.Pos()), x.Name, n.Sel.Name)
				}
			case *ast.CompositeLit:
				// An Outcome passes through as a type or a zero value;
				// one with fields says what a step caused.
				if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Outcome" && len(n.Elts) > 0 {
					t.Errorf("%s: an Outcome is the application's decision", fset.Position(n.Pos()))
				}
			case *ast.BinaryExpr:
				if slices.Contains([]token.Token{token.LSS, token.LEQ, token.GTR, token.GEQ}, n.Op) && (names(n.X, quantities) || names(n.Y, quantities)) {
					t.Errorf("%s: weighs a quantity (%s), a decision of the domain", fset.Position(n.Pos()), n.Op)
				}
			case *ast.AssignStmt:
				for _, lhs := range n.Lhs {
					if sel, ok := lhs.(*ast.SelectorExpr); ok && slices.Contains(stateFields, sel.Sel.Name) {
						t.Errorf("%s: writes %s, a decided field", fset.Position(n.Pos()), sel.Sel.Name)
					}
				}
			}
			return true
		})
	}
}

// names reports whether e names one of fields (as x.Field).
func names(e ast.Expr, fields []string) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok && slices.Contains(fields, sel.Sel.Name) {
			found = true
		}
		return !found
	})
	return found
}
