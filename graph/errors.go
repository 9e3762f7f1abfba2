package graph

import (
	"context"
	"errors"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/jobsphere/jobsphere"
)

// ErrorPresenter turns every error into the shape docs/api.md, "Errors" shows:
// extensions.code always, extensions.fields for input problems. Errors
// that are not ours or gqlgen's are bugs or outages: logged in full, shown
// to the client as INTERNAL with nothing of their text.
func ErrorPresenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var appErr *jobsphere.Error
		if errors.As(err, &appErr) {
			out := graphql.DefaultErrorPresenter(ctx, err)
			out.Message = appErr.Message
			out.Extensions = appExtensions(appErr, out.Path)
			return out
		}
		// gqlgen wraps every error in a gqlerror; one that wraps nothing is
		// gqlgen's own (parse, validation, limits).
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			return presentGraphQLError(gqlErr)
		}
		logger.ErrorContext(ctx, "graphql resolver failed", "err", err, "path", graphql.GetPath(ctx).String())
		return &gqlerror.Error{
			Message:    "Internal server error",
			Path:       graphql.GetPath(ctx),
			Extensions: map[string]any{"code": string(jobsphere.Internal)},
		}
	}
}

// RecoverFunc answers a panic in a resolver with INTERNAL, after logging it.
func RecoverFunc(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "graphql resolver panicked", "panic", p, "path", graphql.GetPath(ctx).String())
		return errors.New("panic in resolver")
	}
}

// presentGraphQLError keeps gqlgen's own errors (parse, validation, limits)
// but reports a variable that fails its type as the input error it is.
func presentGraphQLError(e *gqlerror.Error) *gqlerror.Error {
	if len(e.Path) > 1 && e.Path[0] == ast.PathName("variable") {
		e.Extensions = inputExtensions(e.Message, e.Path)
	}
	return e
}

func appExtensions(e *jobsphere.Error, path ast.Path) map[string]any {
	ext := map[string]any{"code": string(e.Code)}
	for k, v := range e.Extra {
		ext[k] = v
	}
	fields := e.Fields
	if e.Code == jobsphere.BadUserInput && len(fields) == 0 {
		fields = fieldFromPath(e.Message, path)
	}
	if len(fields) > 0 {
		ext["fields"] = fields
	}
	return ext
}

func inputExtensions(msg string, path ast.Path) map[string]any {
	ext := map[string]any{"code": string(jobsphere.BadUserInput)}
	if fields := fieldFromPath(msg, path); len(fields) > 0 {
		ext["fields"] = fields
	}
	return ext
}

// fieldFromPath names the input field an error is about: the last name
// in its path.
func fieldFromPath(msg string, path ast.Path) []jobsphere.FieldError {
	for i := len(path) - 1; i >= 0; i-- {
		if name, ok := path[i].(ast.PathName); ok {
			return []jobsphere.FieldError{{Field: string(name), Message: msg}}
		}
	}
	return nil
}
