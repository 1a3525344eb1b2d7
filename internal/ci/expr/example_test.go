package expr_test

import (
	"fmt"

	"github.com/kiln-ci/kiln/internal/ci/expr"
)

func ExampleParse() {
	_, err := expr.Parse(`$CI_COMMIT_BRANCH == `)
	fmt.Println(err)
	_, err = expr.Parse(`${CI_COMMIT_BRANCH} == "main"`)
	fmt.Println(err)
	// Output:
	// rules:if "$CI_COMMIT_BRANCH == " at 21: expected a value
	// rules:if "${CI_COMMIT_BRANCH} == \"main\"" at 0: ${VARIABLE} is not allowed in expressions; write $VARIABLE
}

func ExampleExpr_Eval() {
	e, err := expr.Parse(`$CI_COMMIT_BRANCH == "main" && $CI_PIPELINE_SOURCE =~ /^(push|web)$/`)
	if err != nil {
		panic(err)
	}
	vars := map[string]string{"CI_COMMIT_BRANCH": "main", "CI_PIPELINE_SOURCE": "web"}
	ok, err := e.Eval(func(name string) (string, bool) {
		v, found := vars[name]
		return v, found
	})
	fmt.Println(ok, err)
	// Output: true <nil>
}
