package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// inviteRequest is the body of POST /invite.
type inviteRequest struct {
	Email string         `json:"email"`
	Data  map[string]any `json:"data"`
}

// handleInvite is POST /invite (service_role): create the user, or reuse
// an unconfirmed one, and mail an invitation link.
func (s *Service) handleInvite(w http.ResponseWriter, r *http.Request) error {
	admin, err := s.requireAdmin(r)
	if err != nil {
		return err
	}
	var req inviteRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	email, err := requiredEmail(req.Email, "An email address is required")
	if err != nil {
		return err
	}
	if err := s.checkMailer(tmplInvite); err != nil {
		return err
	}
	u, err := s.invitedUser(ctx(r), email, req.Data)
	if err != nil {
		return err
	}
	if err := s.mailGate(r, "", email); err != nil {
		return err
	}
	if err := s.mailToken(ctx(r), u, "invite", tmplInvite, email, "", s.redirectOf(r, ""), "", "",
		auditStatement(auditEntry{Action: "user_invited", ActorRole: admin.Role, UserID: u.ID, IP: httpx.ClientIP(r),
			Payload: map[string]any{"email": email}})); err != nil {
		return err
	}
	if u, err = s.loadUser(ctx(r), s.db.Admin, u.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// invitedUser creates an invited user, or marks an existing unconfirmed
// one invited; a confirmed user cannot be invited again.
func (s *Service) invitedUser(c context.Context, email string, data map[string]any) (*User, error) {
	u, err := s.userByEmail(c, s.db.Admin, email)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if u == nil {
		return s.createUser(c, s.db.Admin, newUser{Email: email, Provider: "email", UserMetadata: data, InvitedAt: &now})
	}
	if u.EmailConfirmedAt != nil {
		return nil, errEmailExists
	}
	meta, _ := json.Marshal(data)
	if data == nil {
		meta = []byte("{}")
	}
	if _, err := s.db.Admin.Exec(c, `update auth.users set invited_at = now(), raw_user_meta_data = raw_user_meta_data || $2,
		updated_at = now() where id = $1`, u.ID, meta); err != nil {
		return nil, err
	}
	return s.loadUser(c, s.db.Admin, u.ID)
}

// generateLinkRequest is the body of POST /admin/generate_link.
type generateLinkRequest struct {
	Type       string         `json:"type"`
	Email      string         `json:"email"`
	NewEmail   string         `json:"new_email"`
	Password   string         `json:"password"`
	Data       map[string]any `json:"data"`
	RedirectTo string         `json:"redirect_to"`
}

// handleGenerateLink is POST /admin/generate_link (service_role): issue
// the link and code a flow would mail, without mailing them, for an
// application that sends its own email. The answer is the user object with
// action_link, email_otp, hashed_token, verification_type and redirect_to
// added, as GoTrue answers it.
func (s *Service) handleGenerateLink(w http.ResponseWriter, r *http.Request) error {
	admin, err := s.requireAdmin(r)
	if err != nil {
		return err
	}
	var req generateLinkRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	email, err := requiredEmail(req.Email, "An email address is required")
	if err != nil {
		return err
	}
	redirect := s.redirectOf(r, req.RedirectTo)
	c := ctx(r)
	var (
		u         *User
		tokenType string
		address   = email
	)
	switch req.Type {
	case "signup":
		tokenType = "confirmation"
		if u, err = s.userByEmail(c, s.db.Admin, email); err != nil {
			return err
		}
		if u != nil && u.EmailConfirmedAt != nil {
			return errEmailExists
		}
		if u == nil {
			if reasons, msg := checkPolicy(s.cfg.Password, req.Password); req.Password == "" || reasons != nil {
				if req.Password == "" {
					return validationFailed("Signup requires a valid password")
				}
				return weakPasswordError(msg, reasons)
			}
			hash, err := hashPassword(req.Password, s.cfg.Password.BcryptCost)
			if err != nil {
				return err
			}
			if u, err = s.createUser(c, s.db.Admin, newUser{Email: email, PasswordHash: hash, Provider: "email", UserMetadata: req.Data}); err != nil {
				return err
			}
		}
	case "invite":
		tokenType = "invite"
		if u, err = s.invitedUser(c, email, req.Data); err != nil {
			return err
		}
	case "magiclink":
		tokenType = "magiclink"
		if u, err = s.userByEmail(c, s.db.Admin, email); err != nil {
			return err
		}
		if u == nil {
			if u, err = s.createUser(c, s.db.Admin, newUser{Email: email, Provider: "email", UserMetadata: req.Data}); err != nil {
				return err
			}
		}
	case "recovery":
		tokenType = "recovery"
		if u, err = s.userByEmail(c, s.db.Admin, email); err != nil {
			return err
		}
		if u == nil {
			return errUserNotFound
		}
	case "email_change_current", "email_change_new":
		tokenType = req.Type
		newEmail, err := normalizeEmail(req.NewEmail)
		if err != nil {
			return err
		}
		if newEmail == "" {
			return validationFailed("The new email address is required for " + req.Type)
		}
		if u, err = s.userByEmail(c, s.db.Admin, email); err != nil {
			return err
		}
		if u == nil {
			return errUserNotFound
		}
		if other, err := s.userByEmail(c, s.db.Admin, newEmail); err != nil {
			return err
		} else if other != nil {
			return errEmailExists
		}
		if _, err := s.db.Admin.Exec(c, `update auth.users set email_change = $2, email_change_sent_at = now() where id = $1`, u.ID, newEmail); err != nil {
			return err
		}
		if req.Type == "email_change_new" {
			address = newEmail
		}
	default:
		return validationFailed("Invalid link type: use signup, invite, magiclink, recovery, email_change_current or email_change_new")
	}
	tok, err := s.issueToken(c, s.db.Admin, u.ID, tokenType, address, "", redirect)
	if err != nil {
		return err
	}
	if u, err = s.loadUser(c, s.db.Admin, u.ID); err != nil {
		return err
	}
	verifyType := req.Type
	if tokenType == "email_change_current" || tokenType == "email_change_new" {
		verifyType = "email_change"
	}
	s.audit(c, auditEntry{Action: "generate_link", ActorRole: admin.Role, UserID: u.ID, IP: httpx.ClientIP(r),
		Payload: map[string]any{"type": req.Type}})
	b, err := json.Marshal(u)
	if err != nil {
		return err
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	out["action_link"] = s.verifyURL(tok.LinkToken, verifyType, redirect)
	out["email_otp"] = tok.Code
	out["hashed_token"] = tok.LinkToken
	out["verification_type"] = req.Type
	out["redirect_to"] = redirect
	writeJSON(w, http.StatusOK, out)
	return nil
}

// errTemplateNotFound answers an unknown template name.
var errTemplateNotFound = Err(http.StatusNotFound, "template_not_found",
	"Unknown email template: use confirmation, magic_link, otp, recovery, email_change or invite")

// templateInfo is a template as the admin API shows it.
type templateInfo struct {
	Name      string     `json:"name"`
	Subject   string     `json:"subject"`
	BodyHTML  string     `json:"body_html"`
	BodyText  string     `json:"body_text"`
	Custom    bool       `json:"custom"`
	UpdatedAt *time.Time `json:"updated_at"`
}

func (s *Service) templateInfo(c context.Context, k templateKind) (templateInfo, error) {
	info := templateInfo{Name: string(k)}
	var updated time.Time
	err := s.db.Admin.QueryRow(c, `select subject, body_html, body_text, updated_at from auth.email_templates where name = $1`, string(k)).
		Scan(&info.Subject, &info.BodyHTML, &info.BodyText, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		d := defaultTemplates[k]
		info.Subject, info.BodyHTML, info.BodyText = d.Subject, d.HTML, d.Text
		return info, nil
	}
	if err != nil {
		return info, err
	}
	info.Custom, info.UpdatedAt = true, &updated
	return info, nil
}

// handleListTemplates is GET /admin/templates: every email template, the
// operator's version or the default.
func (s *Service) handleListTemplates(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r); err != nil {
		return err
	}
	out := make([]templateInfo, 0, len(templateKinds))
	for _, k := range templateKinds {
		info, err := s.templateInfo(ctx(r), k)
		if err != nil {
			return err
		}
		out = append(out, info)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) handleGetTemplate(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r); err != nil {
		return err
	}
	k, err := templateParam(r)
	if err != nil {
		return err
	}
	return s.writeTemplateInfo(w, r, k)
}

// handlePutTemplate is PUT /admin/templates/{name}: replace a template.
// It must parse and render with sample data, or it is refused.
func (s *Service) handlePutTemplate(w http.ResponseWriter, r *http.Request) error {
	admin, err := s.requireAdmin(r)
	if err != nil {
		return err
	}
	k, err := templateParam(r)
	if err != nil {
		return err
	}
	var t mailTemplate
	if err := decodeJSON(r, &t); err != nil {
		return err
	}
	if err := t.validate(); err != nil {
		return validationFailed("The template does not render: " + err.Error())
	}
	if _, err := s.db.Admin.Exec(ctx(r), `insert into auth.email_templates (name, subject, body_html, body_text, updated_at)
		values ($1, $2, $3, $4, now()) on conflict (name) do update
		set subject = excluded.subject, body_html = excluded.body_html, body_text = excluded.body_text, updated_at = now()`,
		string(k), t.Subject, t.HTML, t.Text); err != nil {
		return err
	}
	return s.templateChanged(w, r, admin.Role, k, "email_template_updated")
}

// handleDeleteTemplate is DELETE /admin/templates/{name}: back to the
// default.
func (s *Service) handleDeleteTemplate(w http.ResponseWriter, r *http.Request) error {
	admin, err := s.requireAdmin(r)
	if err != nil {
		return err
	}
	k, err := templateParam(r)
	if err != nil {
		return err
	}
	if _, err := s.db.Admin.Exec(ctx(r), `delete from auth.email_templates where name = $1`, string(k)); err != nil {
		return err
	}
	return s.templateChanged(w, r, admin.Role, k, "email_template_reset")
}

// templateParam is the template a /admin/templates/{name} route names.
func templateParam(r *http.Request) (templateKind, error) {
	k, ok := parseTemplateKind(urlParam(r, "name"))
	if !ok {
		return "", errTemplateNotFound
	}
	return k, nil
}

// writeTemplateInfo answers a template route with the template as it now
// stands, so that a write shows what will be sent.
func (s *Service) writeTemplateInfo(w http.ResponseWriter, r *http.Request, k templateKind) error {
	info, err := s.templateInfo(ctx(r), k)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// templateChanged records a template write in the audit log and answers
// with the template as it now stands.
func (s *Service) templateChanged(w http.ResponseWriter, r *http.Request, actorRole string, k templateKind, action string) error {
	s.audit(ctx(r), auditEntry{Action: action, ActorRole: actorRole, IP: httpx.ClientIP(r), Payload: map[string]any{"name": string(k)}})
	return s.writeTemplateInfo(w, r, k)
}
