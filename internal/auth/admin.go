package auth

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// handleAdminListUsers is GET /admin/users?page=&per_page=&filter= (or
// search=): users newest first, GoTrue's {"users": [...], "aud"} with
// X-Total-Count and a Link header.
func (s *Service) handleAdminListUsers(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r); err != nil {
		return err
	}
	page, perPage, err := pagination(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	search := q.Get("filter")
	if search == "" {
		search = q.Get("search")
	}
	if len(search) > 200 {
		return validationFailed("filter is too long")
	}
	pattern := "%" + likeEscape(strings.ToLower(search)) + "%"
	where := ` where ($1 = '%%' or u.email like $1 or u.phone like $1 or lower(u.raw_user_meta_data::text) like $1)`
	var total int64
	if err := s.db.Admin.QueryRow(ctx(r), `select count(*) from auth.users u`+where, pattern).Scan(&total); err != nil {
		return err
	}
	rows, err := s.db.Admin.Query(ctx(r), `select `+userColumns+` from auth.users u`+where+
		` order by u.created_at desc, u.id limit $2 offset $3`, pattern, perPage, (page-1)*perPage)
	if err != nil {
		return err
	}
	users := []*User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			rows.Close()
			return err
		}
		users = append(users, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, u := range users {
		if err := s.loadRelations(ctx(r), s.db.Admin, u); err != nil {
			return err
		}
	}
	w.Header().Set("X-Total-Count", strconv.FormatInt(total, 10))
	if link := pageLinks(r, page, perPage, total); link != "" {
		w.Header().Set("Link", link)
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users, "aud": "authenticated"})
	return nil
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// pageLinks is the RFC 8288 Link header GoTrue sends with user lists.
func pageLinks(r *http.Request, page, perPage int, total int64) string {
	last := int((total + int64(perPage) - 1) / int64(perPage))
	if last < 1 {
		last = 1
	}
	u := *r.URL
	link := func(p int, rel string) string {
		q := u.Query()
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(perPage))
		u.RawQuery = q.Encode()
		return fmt.Sprintf(`<%s>; rel="%s"`, u.RequestURI(), rel)
	}
	var parts []string
	if page < last {
		parts = append(parts, link(page+1, "next"))
	}
	parts = append(parts, link(last, "last"))
	return strings.Join(parts, ", ")
}

// adminUserBody is the body of admin create and update.
type adminUserBody struct {
	Email        *string        `json:"email"`
	Phone        *string        `json:"phone"`
	Password     *string        `json:"password"`
	PasswordHash *string        `json:"password_hash"`
	EmailConfirm *bool          `json:"email_confirm"`
	PhoneConfirm *bool          `json:"phone_confirm"`
	UserMetadata map[string]any `json:"user_metadata"`
	AppMetadata  map[string]any `json:"app_metadata"`
	Role         *string        `json:"role"`
	BanDuration  *string        `json:"ban_duration"`
	// BannedUntil bans until a time (RFC 3339); an empty string lifts a
	// ban. It is the alternative to ban_duration.
	BannedUntil *string `json:"banned_until"`
	ID          *string `json:"id"`
}

// ban resolves ban_duration or banned_until: whether the body sets a ban
// and until when (nil lifts it).
func (s *Service) ban(b adminUserBody) (*time.Time, bool, error) {
	switch {
	case b.BanDuration != nil && b.BannedUntil != nil:
		return nil, false, validationFailed("give ban_duration or banned_until, not both")
	case b.BanDuration != nil:
		return s.banUntil(*b.BanDuration)
	case b.BannedUntil != nil:
		if *b.BannedUntil == "" {
			return nil, true, nil
		}
		t, err := time.Parse(time.RFC3339, *b.BannedUntil)
		if err != nil {
			return nil, false, validationFailed("banned_until must be an RFC 3339 time such as 2030-01-01T00:00:00Z, or \"\" to lift the ban")
		}
		return &t, true, nil
	}
	return nil, false, nil
}

// banUntil parses ban_duration: "none" lifts a ban, a Go duration ("24h",
// "876000h" for practically forever) bans until now plus it.
func (s *Service) banUntil(d string) (*time.Time, bool, error) {
	if d == "none" {
		return nil, true, nil
	}
	dur, err := time.ParseDuration(d)
	if err != nil || dur <= 0 {
		return nil, false, validationFailed("ban_duration must be \"none\" or a positive duration such as 24h")
	}
	t := s.now().Add(dur)
	return &t, true, nil
}

func (s *Service) handleAdminCreateUser(w http.ResponseWriter, r *http.Request) error {
	admin, err := s.requireAdmin(r)
	if err != nil {
		return err
	}
	var b adminUserBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	n := newUser{UserMetadata: b.UserMetadata, AppMetadata: b.AppMetadata}
	if b.Email != nil {
		if n.Email, err = normalizeEmail(*b.Email); err != nil {
			return err
		}
	}
	if b.Phone != nil {
		if n.Phone, err = normalizePhone(*b.Phone); err != nil {
			return err
		}
	}
	if n.Email == "" && n.Phone == "" {
		return validationFailed("Unable to validate email address: invalid format")
	}
	n.Provider = "email"
	if n.Email == "" {
		n.Provider = "phone"
	}
	switch {
	case b.Password != nil && b.PasswordHash != nil:
		return validationFailed("Only a password or a password hash should be provided")
	case b.Password != nil:
		if reasons, msg := checkPolicy(s.cfg.Password, *b.Password); reasons != nil {
			return weakPasswordError(msg, reasons)
		}
		if n.PasswordHash, err = hashPassword(*b.Password, s.cfg.Password.BcryptCost); err != nil {
			return err
		}
	case b.PasswordHash != nil:
		if !ValidImportedHash(*b.PasswordHash) {
			return validationFailed("password_hash must be a bcrypt hash or an argon2 hash in PHC format")
		}
		n.PasswordHash = *b.PasswordHash
	}
	n.Confirmed = (b.EmailConfirm != nil && *b.EmailConfirm) || (b.PhoneConfirm != nil && *b.PhoneConfirm)
	if b.Role != nil {
		if !roleNameRE(*b.Role) {
			return validationFailed("role is not a valid role name")
		}
		n.Role = *b.Role
	}
	if n.BannedUntil, _, err = s.ban(b); err != nil {
		return err
	}
	u, err := s.createUser(ctx(r), s.db.Admin, n)
	if err != nil {
		return err
	}
	s.audit(ctx(r), auditEntry{Action: "user_signedup", ActorRole: admin.Role, UserID: u.ID, IP: httpx.ClientIP(r),
		Payload: map[string]any{"provider": n.Provider, "by": "admin"}})
	writeJSON(w, http.StatusOK, u)
	return nil
}

func roleNameRE(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (s *Service) handleAdminGetUser(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r); err != nil {
		return err
	}
	u, err := s.loadUser(ctx(r), s.db.Admin, urlParam(r, "id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Service) handleAdminUpdateUser(w http.ResponseWriter, r *http.Request) error {
	admin, err := s.requireAdmin(r)
	if err != nil {
		return err
	}
	u, err := s.loadUser(ctx(r), s.db.Admin, urlParam(r, "id"))
	if err != nil {
		return err
	}
	var b adminUserBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	var fields []string
	tx, err := s.db.Admin.Begin(ctx(r))
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx(r)) }()
	exec := func(field, sql string, args ...any) error {
		fields = append(fields, field)
		_, err := tx.Exec(ctx(r), sql, append([]any{u.ID}, args...)...)
		if err != nil && strings.Contains(err.Error(), "23505") {
			if field == "phone" {
				return errPhoneExists
			}
			return errEmailExists
		}
		return err
	}
	if b.Email != nil {
		email, err := normalizeEmail(*b.Email)
		if err != nil {
			return err
		}
		if err := exec("email", `update auth.users set email = nullif($2, '') where id = $1`, email); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx(r), `update auth.identities set identity_data = identity_data || jsonb_build_object('email', $2::text)
			where user_id = $1 and provider = 'email'`, u.ID, email); err != nil {
			return err
		}
	}
	if b.Phone != nil {
		phone, err := normalizePhone(*b.Phone)
		if err != nil {
			return err
		}
		if err := exec("phone", `update auth.users set phone = nullif($2, '') where id = $1`, phone); err != nil {
			return err
		}
	}
	if b.Password != nil {
		if reasons, msg := checkPolicy(s.cfg.Password, *b.Password); reasons != nil {
			return weakPasswordError(msg, reasons)
		}
		h, err := hashPassword(*b.Password, s.cfg.Password.BcryptCost)
		if err != nil {
			return err
		}
		if err := exec("password", `update auth.users set encrypted_password = $2 where id = $1`, h); err != nil {
			return err
		}
	}
	if b.EmailConfirm != nil {
		if err := exec("email_confirm", `update auth.users set email_confirmed_at = case when $2 then coalesce(email_confirmed_at, now()) end where id = $1`, *b.EmailConfirm); err != nil {
			return err
		}
	}
	if b.PhoneConfirm != nil {
		if err := exec("phone_confirm", `update auth.users set phone_confirmed_at = case when $2 then coalesce(phone_confirmed_at, now()) end where id = $1`, *b.PhoneConfirm); err != nil {
			return err
		}
	}
	if b.UserMetadata != nil {
		if err := exec("user_metadata", `update auth.users set raw_user_meta_data = jsonb_strip_nulls(raw_user_meta_data || $2::jsonb) where id = $1`, jsonOf(b.UserMetadata)); err != nil {
			return err
		}
	}
	if b.AppMetadata != nil {
		if err := exec("app_metadata", `update auth.users set raw_app_meta_data = jsonb_strip_nulls(raw_app_meta_data || $2::jsonb) where id = $1`, jsonOf(b.AppMetadata)); err != nil {
			return err
		}
	}
	if b.Role != nil {
		if !roleNameRE(*b.Role) {
			return validationFailed("role is not a valid role name")
		}
		if err := exec("role", `update auth.users set role = $2 where id = $1`, *b.Role); err != nil {
			return err
		}
	}
	if until, set, err := s.ban(b); err != nil {
		return err
	} else if set {
		if err := exec("banned_until", `update auth.users set banned_until = $2 where id = $1`, until); err != nil {
			return err
		}
		if until != nil {
			// A ban ends the user's sessions at once.
			if _, err := tx.Exec(ctx(r), `delete from auth.sessions where user_id = $1`, u.ID); err != nil {
				return err
			}
		}
	}
	if _, err := tx.Exec(ctx(r), `update auth.users set updated_at = now() where id = $1`, u.ID); err != nil {
		return err
	}
	if err := tx.Commit(ctx(r)); err != nil {
		return err
	}
	s.audit(ctx(r), auditEntry{Action: "user_updated_by_admin", ActorRole: admin.Role, UserID: u.ID, IP: httpx.ClientIP(r),
		Payload: map[string]any{"fields": fields}})
	u, err = s.loadUser(ctx(r), s.db.Admin, u.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Service) handleAdminDeleteUser(w http.ResponseWriter, r *http.Request) error {
	admin, err := s.requireAdmin(r)
	if err != nil {
		return err
	}
	id := urlParam(r, "id")
	if !validUUID(id) {
		return errUserNotFound
	}
	var b struct {
		ShouldSoftDelete bool `json:"should_soft_delete"`
	}
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	var n int64
	if b.ShouldSoftDelete {
		tag, err := s.db.Admin.Exec(ctx(r), `with d as (delete from auth.sessions where user_id = $1)
			update auth.users set deleted_at = now(), email = null, phone = null, encrypted_password = null,
			banned_until = 'infinity' where id = $1`, id)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
	} else {
		tag, err := s.db.Admin.Exec(ctx(r), `delete from auth.users where id = $1`, id)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
	}
	if n == 0 {
		return errUserNotFound
	}
	s.audit(ctx(r), auditEntry{Action: "user_deleted", ActorRole: admin.Role, UserID: id, IP: httpx.ClientIP(r),
		Payload: map[string]any{"soft": b.ShouldSoftDelete}})
	writeJSON(w, http.StatusOK, map[string]any{})
	return nil
}

// handleAdminSignOut ends every session of a user.
func (s *Service) handleAdminSignOut(w http.ResponseWriter, r *http.Request) error {
	admin, err := s.requireAdmin(r)
	if err != nil {
		return err
	}
	id := urlParam(r, "id")
	if _, err := s.loadUser(ctx(r), s.db.Admin, id); err != nil {
		return err
	}
	n, err := s.signOut(ctx(r), id, "", "global")
	if err != nil {
		return err
	}
	s.audit(ctx(r), auditEntry{Action: "logout", ActorRole: admin.Role, UserID: id, IP: httpx.ClientIP(r),
		Payload: map[string]any{"scope": "global", "by": "admin", "sessions": n}})
	w.WriteHeader(http.StatusNoContent)
	return nil
}
