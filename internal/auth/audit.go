package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// auditEntry is one line of the audit log. Actions: user_signedup, login,
// logout, token_revoked (refresh-token reuse), user_modified (password,
// email), factor_* (MFA), user_deleted, user_invited, user_updated_by_admin,
// api_key_created, api_key_revoked, api_key_deleted, ...
type auditEntry struct {
	Action    string
	ActorID   string
	ActorRole string
	UserID    string
	IP        string
	Payload   map[string]any
}

// audit records an entry. A failure is logged, not returned: the action it
// describes has already happened.
func (s *Service) audit(ctx context.Context, e auditEntry) {
	payload := e.Payload
	if payload == nil {
		payload = map[string]any{}
	}
	b, _ := json.Marshal(payload)
	_, err := s.db.Admin.Exec(ctx, `insert into auth.audit_log (action, actor_id, actor_role, user_id, ip, payload)
		values ($1, nullif($2, '')::uuid, nullif($3, ''), nullif($4, '')::uuid, $5, $6)`,
		e.Action, uuidOrEmpty(e.ActorID), e.ActorRole, uuidOrEmpty(e.UserID), ipOrNil(e.IP), b)
	if err != nil {
		s.log.Warn("writing the audit log failed", "action", e.Action, "error", err)
	}
}

func uuidOrEmpty(s string) string {
	if validUUID(s) {
		return s
	}
	return ""
}

// auditRecord is an entry as the admin API lists it.
type auditRecord struct {
	ID        int64          `json:"id"`
	CreatedAt time.Time      `json:"created_at"`
	Action    string         `json:"action"`
	ActorID   *string        `json:"actor_id"`
	ActorRole *string        `json:"actor_role"`
	UserID    *string        `json:"user_id"`
	IP        *string        `json:"ip_address"`
	Payload   map[string]any `json:"payload"`
}

// handleAuditLog lists audit entries, newest first, optionally for one
// user (?user_id=) or action (?action=), with page/per_page.
func (s *Service) handleAuditLog(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.requireAdmin(r); err != nil {
		return err
	}
	page, perPage, err := pagination(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	uid := q.Get("user_id")
	if uid != "" && !validUUID(uid) {
		return validationFailed("user_id must be a UUID")
	}
	var total int64
	if err := s.db.Admin.QueryRow(ctx(r), `select count(*) from auth.audit_log
		where ($1 = '' or user_id = nullif($1, '')::uuid) and ($2 = '' or action = $2)`, uid, q.Get("action")).Scan(&total); err != nil {
		return err
	}
	rows, err := s.db.Admin.Query(ctx(r), `select id, created_at, action, actor_id::text, actor_role, user_id::text, host(ip), payload
		from auth.audit_log where ($1 = '' or user_id = nullif($1, '')::uuid) and ($2 = '' or action = $2)
		order by id desc limit $3 offset $4`, uid, q.Get("action"), perPage, (page-1)*perPage)
	if err != nil {
		return err
	}
	defer rows.Close()
	out := []auditRecord{}
	for rows.Next() {
		var a auditRecord
		var p []byte
		if err := rows.Scan(&a.ID, &a.CreatedAt, &a.Action, &a.ActorID, &a.ActorRole, &a.UserID, &a.IP, &p); err != nil {
			return err
		}
		_ = json.Unmarshal(p, &a.Payload)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	w.Header().Set("X-Total-Count", strconv.FormatInt(total, 10))
	writeJSON(w, http.StatusOK, out)
	return nil
}
