package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// bearerAuth requires "Authorization: Bearer <token>".
func bearerAuth(token string) echo.MiddlewareFunc {
	// Comparing digests keeps the comparison constant-time in the token's
	// length too.
	want := sha256.Sum256([]byte(token))
	return middleware.KeyAuthWithConfig(middleware.KeyAuthConfig{
		KeyLookup:  "header:" + echo.HeaderAuthorization,
		AuthScheme: "Bearer",
		Validator: func(key string, _ echo.Context) (bool, error) {
			got := sha256.Sum256([]byte(key))
			return subtle.ConstantTimeCompare(got[:], want[:]) == 1, nil
		},
		ErrorHandler: func(_ error, c echo.Context) error {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, "Bearer")
			return echo.NewHTTPError(http.StatusUnauthorized, "a valid bearer token is required")
		},
	})
}
