package console

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// signinPage shows the sign-in form. It sets a fresh login cookie whose
// value the form carries back (double-submit CSRF protection for the one
// form that has no session yet).
func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if _, ok := h.sess.get(c.Value); ok {
			http.Redirect(w, r, next(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
	}
	v := &view{Title: "Sign in", Nav: "signin"}
	if r.URL.Query().Get("msg") == "signedout" {
		v.Notice = "You are signed out."
	}
	h.renderSignin(w, r, http.StatusOK, v)
}

func (h *Handler) renderSignin(w http.ResponseWriter, r *http.Request, status int, v *view) {
	token := randomToken()
	h.setCookie(w, r, loginCookie, token, 3600)
	v.CSRF = token
	v.Data = next(r.FormValue("next"))
	h.render(w, r, status, "signin", nil, v)
}

// signin checks the login CSRF token and the bearer token, then starts a
// session. The token is never written back into any page.
//
// An address that tried too many (Config.SigninBurst) is refused first,
// 429 with Retry-After; a sign-in that works gives its try back.
func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	addr := h.cfg.ClientAddr(r)
	addr = addr[:min(len(addr), maxClientAddr)]
	if h.signinLimit != nil {
		if wait := h.signinLimit.take(addr); wait > 0 {
			secs := int((wait + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			h.renderSignin(w, r, http.StatusTooManyRequests, &view{Title: "Sign in",
				Error: fmt.Sprintf("Too many sign-ins failed from your address. Try again in %d seconds.", secs)})
			return
		}
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameOrigin(r) || !tokensEqual(r.PostFormValue("csrf"), c.Value) {
		h.renderSignin(w, r, http.StatusForbidden, &view{Title: "Sign in",
			Error: "The sign-in form expired or did not come from this console. Try again."})
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	p, ok := h.cfg.Auth.Authenticate(token)
	if !ok {
		h.renderSignin(w, r, http.StatusUnauthorized, &view{Title: "Sign in",
			Error: "That token is not known to this server."})
		return
	}
	if h.signinLimit != nil {
		h.signinLimit.give(addr) // only failures count
	}
	ss, err := h.sess.create(p)
	if err != nil {
		h.renderSignin(w, r, http.StatusServiceUnavailable, &view{Title: "Sign in", Error: err.Error()})
		return
	}
	h.setCookie(w, r, loginCookie, "", -1)
	h.setCookie(w, r, sessionCookie, ss.id, int(h.cfg.SessionMax.Seconds()))
	http.Redirect(w, r, next(r.PostFormValue("next")), http.StatusSeeOther)
}

// signout ends the session.
func (h *Handler) signout(w http.ResponseWriter, r *http.Request, ss *session) {
	h.sess.delete(ss.id)
	h.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, Prefix+"signin?msg=signedout", http.StatusSeeOther)
}

// next is where to go after signing in: a console path, never another
// site ("//host" or "/\host" included); the namespaces page by default.
func next(p string) string {
	if !strings.HasPrefix(p, Prefix) || strings.ContainsAny(p, "\\\r\n") || strings.Contains(p, "/..") {
		return Prefix + "namespaces"
	}
	return p
}
