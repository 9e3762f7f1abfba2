package graph

import (
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// ValidationRules are the rules every new document is validated with
// (gqlgen's SetValidationRulesFn): GraphQL's own, plus exact Decimal
// literals; with introspection off, also no introspection fields and no
// "Did you mean …?" suggestions, which would spell the schema out
// anyway. Set gqlgen's SetDisableSuggestion to !introspection with it:
// gqlgen swaps two of these rules by that flag.
func ValidationRules(introspection bool) func() *rules.Rules {
	return func() *rules.Rules {
		r := rules.NewDefaultRules()
		r.AddRule(decimalLiterals.Name, decimalLiterals.RuleFunc)
		if introspection {
			return r
		}
		r.AddRule(noIntrospection.Name, noIntrospection.RuleFunc)
		for _, swap := range []struct {
			name    string
			without core.Rule
		}{
			{rules.FieldsOnCorrectTypeRule.Name, rules.FieldsOnCorrectTypeRuleWithoutSuggestions},
			{rules.KnownArgumentNamesRule.Name, rules.KnownArgumentNamesRuleWithoutSuggestions},
			{rules.KnownTypeNamesRule.Name, rules.KnownTypeNamesRuleWithoutSuggestions},
			{rules.ScalarLeafsRule.Name, rules.ScalarLeafsRuleWithoutSuggestions},
			{rules.ValuesOfCorrectTypeRule.Name, rules.ValuesOfCorrectTypeRuleWithoutSuggestions},
		} {
			r.RemoveRule(swap.name)
			r.AddRule(swap.without.Name, swap.without.RuleFunc)
		}
		return r
	}
}

// noIntrospection refuses __schema and __type where introspection is
// off: a validation error, as the spec has it, not gqlgen's resolver
// error (which we would answer with INTERNAL and log).
var noIntrospection = core.Rule{
	Name: "NoIntrospection",
	RuleFunc: func(observers *core.Events, addError core.AddErrFunc) {
		observers.OnField(func(_ *core.Walker, field *ast.Field) {
			if field.Name == "__schema" || field.Name == "__type" {
				addError(core.Message("GraphQL introspection is not allowed"), core.At(field.Position))
			}
		})
	},
}

// decimalLiterals makes a number written inline where a Decimal is
// expected reach the scalar as its text, as a variable's number does
// (json.Number): gqlparser would turn it into a float64 first, so
// 100000000000000.01 became …02 and 1e3 was read as 1000. Validation
// runs on a freshly parsed document before gqlgen caches or shares it,
// so rewriting the value here is race-free; GraphQL's own rules skip
// custom scalars, so none of them minds a string there.
var decimalLiterals = core.Rule{
	Name: "DecimalLiteralsAsText",
	RuleFunc: func(observers *core.Events, _ core.AddErrFunc) {
		observers.OnValue(func(_ *core.Walker, value *ast.Value) {
			if value.Definition != nil && value.Definition.Name == "Decimal" &&
				(value.Kind == ast.IntValue || value.Kind == ast.FloatValue) {
				value.Kind = ast.StringValue
			}
		})
	},
}
