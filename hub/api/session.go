package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// sessionCookie carries an admin's token to River UI, whose page makes its
// own requests and cannot add an Authorization header. HttpOnly (scripts
// cannot read it), SameSite=Strict (no other site can make the browser send
// it) and scoped to River UI's path.
const sessionCookie = "sb_token"

func (s *Server) whoami(c echo.Context) error {
	p := caller(c)
	scopes := p.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return c.JSON(http.StatusOK, map[string]any{"id": p.ID, "name": p.Name, "role": p.Role, "scopes": scopes})
}

func (s *Server) openSession(c echo.Context) error {
	tok, _ := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: strings.TrimSpace(tok), Path: "/admin/queue",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secureScheme(c.Request())})
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) closeSession(c echo.Context) error {
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/admin/queue", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return c.NoContent(http.StatusNoContent)
}
