package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
)

// ErrorResponse is the body of every error answer, whatever its status.
type ErrorResponse struct {
	Error string `json:"error"`
}

// handleError replaces echo's error handler so that every error, including
// the router's 404 and 405, is answered with an ErrorResponse.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	// The request logger logs err with the request.
	status, message := s.describe(err)
	var writeErr error
	if c.Request().Method == http.MethodHead {
		writeErr = c.NoContent(status)
	} else {
		writeErr = c.JSON(status, ErrorResponse{Error: message})
	}
	if writeErr != nil {
		s.log.DebugContext(c.Request().Context(), "error response not sent", "error", writeErr)
	}
}

// describe returns the status and the one-sentence message answering err.
func (s *Server) describe(err error) (int, string) {
	var httpErr *echo.HTTPError
	if !errors.As(err, &httpErr) {
		return http.StatusInternalServerError, "internal server error"
	}
	if inner, ok := httpErr.Internal.(*echo.HTTPError); ok {
		httpErr = inner
	}
	switch httpErr {
	case echo.ErrNotFound:
		return httpErr.Code, "no endpoint at this path"
	case echo.ErrMethodNotAllowed:
		return httpErr.Code, "method not allowed at this path"
	case echo.ErrStatusRequestEntityTooLarge:
		return httpErr.Code, fmt.Sprintf("request body must not be larger than %d bytes", s.cfg.BodyLimit)
	}
	if message, ok := httpErr.Message.(string); ok && message != "" {
		return httpErr.Code, message
	}
	return httpErr.Code, http.StatusText(httpErr.Code)
}
