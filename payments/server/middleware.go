package server

import "github.com/labstack/echo/v4"

// Echo v4 wraps the middlewares given to Use, and a route's own, around the
// route's handler on every request: a closure per middleware per request,
// a third of a charge's allocations. wrap and wrappedOnce wrap them once.

// wrappedOnce is a middleware running middlewares around the handler the
// router found for the request. Echo hands a Use middleware that handler as
// next; wrapped once around a call to c.Handler(), the same handler, the
// chain is built when the server is, not per request.
func wrappedOnce(middlewares ...echo.MiddlewareFunc) echo.MiddlewareFunc {
	chain := wrap(func(c echo.Context) error { return c.Handler()(c) }, middlewares...)
	return func(echo.HandlerFunc) echo.HandlerFunc { return chain }
}

// wrap returns handler inside middlewares, the first outermost, as Echo
// orders them.
func wrap(handler echo.HandlerFunc, middlewares ...echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(middlewares) - 1; i >= 0; i-- {
		handler = middlewares[i](handler)
	}
	return handler
}
