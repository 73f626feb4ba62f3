package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// userColumns are read by scanUser, in its order.
const userColumns = `u.id::text, u.aud, u.role, coalesce(u.email, ''), coalesce(u.encrypted_password, ''),
	u.email_confirmed_at, u.invited_at, u.confirmation_sent_at, u.recovery_sent_at,
	coalesce(u.email_change, ''), u.email_change_sent_at, u.last_sign_in_at,
	u.raw_app_meta_data, u.raw_user_meta_data, coalesce(u.phone, ''), u.phone_confirmed_at,
	coalesce(u.phone_change, ''), u.phone_change_sent_at, u.confirmed_at, u.banned_until,
	u.reauthentication_sent_at, u.is_anonymous, u.deleted_at, u.created_at, u.updated_at`

func scanUser(row pgx.Row) (*User, error) {
	u := &User{}
	var app, meta []byte
	err := row.Scan(&u.ID, &u.Aud, &u.Role, &u.Email, &u.passwordHash,
		&u.EmailConfirmedAt, &u.InvitedAt, &u.ConfirmationSentAt, &u.RecoverySentAt,
		&u.NewEmail, &u.EmailChangeSentAt, &u.LastSignInAt,
		&app, &meta, &u.Phone, &u.PhoneConfirmedAt,
		&u.NewPhone, &u.PhoneChangeSentAt, &u.ConfirmedAt, &u.BannedUntil,
		&u.ReauthenticationSentAt, &u.IsAnonymous, &u.DeletedAt, &u.CreatedAt, &u.UpdatedAt)
	if err != nil {
		return nil, err
	}
	u.AppMetadata = map[string]any{}
	u.UserMetadata = map[string]any{}
	_ = json.Unmarshal(app, &u.AppMetadata)
	_ = json.Unmarshal(meta, &u.UserMetadata)
	u.Identities = []Identity{}
	return u, nil
}

// loadUser reads a user with identities and factors; errUserNotFound when
// there is none.
func (s *Service) loadUser(ctx context.Context, q querier, id string) (*User, error) {
	if !validUUID(id) {
		return nil, errUserNotFound
	}
	u, err := scanUser(q.QueryRow(ctx, `select `+userColumns+` from auth.users u where u.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errUserNotFound
	}
	if err != nil {
		return nil, err
	}
	return u, s.loadRelations(ctx, q, u)
}

// loadRelations fills a user's identities and factors.
func (s *Service) loadRelations(ctx context.Context, q querier, u *User) error {
	rows, err := q.Query(ctx, `select id::text, provider_id, user_id::text, identity_data, provider,
		last_sign_in_at, created_at, updated_at, coalesce(email, '')
		from auth.identities where user_id = $1 order by created_at, id`, u.ID)
	if err != nil {
		return err
	}
	u.Identities = []Identity{}
	for rows.Next() {
		var i Identity
		var data []byte
		if err := rows.Scan(&i.IdentityID, &i.ID, &i.UserID, &data, &i.Provider, &i.LastSignInAt, &i.CreatedAt, &i.UpdatedAt, &i.Email); err != nil {
			rows.Close()
			return err
		}
		i.IdentityData = map[string]any{}
		_ = json.Unmarshal(data, &i.IdentityData)
		u.Identities = append(u.Identities, i)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.Query(ctx, `select id::text, coalesce(friendly_name, ''), factor_type, status, coalesce(phone, ''),
		created_at, updated_at from auth.mfa_factors where user_id = $1 order by created_at, id`, u.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	u.Factors = nil
	for rows.Next() {
		var f Factor
		if err := rows.Scan(&f.ID, &f.FriendlyName, &f.FactorType, &f.Status, &f.Phone, &f.CreatedAt, &f.UpdatedAt); err != nil {
			return err
		}
		u.Factors = append(u.Factors, f)
	}
	return rows.Err()
}

// userByEmail finds a user by address (nil, nil when there is none).
func (s *Service) userByEmail(ctx context.Context, q querier, email string) (*User, error) {
	return s.userBy(ctx, q, "email", email)
}

// userByPhone finds a user by phone number (nil, nil when there is none).
func (s *Service) userByPhone(ctx context.Context, q querier, phone string) (*User, error) {
	return s.userBy(ctx, q, "phone", phone)
}

func (s *Service) userBy(ctx context.Context, q querier, col, v string) (*User, error) {
	if v == "" {
		return nil, nil
	}
	sql := `select ` + userColumns + ` from auth.users u where u.email = $1`
	if col == "phone" {
		sql = `select ` + userColumns + ` from auth.users u where u.phone = $1`
	}
	u, err := scanUser(q.QueryRow(ctx, sql, v))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return u, s.loadRelations(ctx, q, u)
}

// newUser is what creating a user needs.
type newUser struct {
	Email, Phone  string
	PasswordHash  string
	Confirmed     bool // email (or phone) confirmed now
	Anonymous     bool
	Provider      string // email, phone, anonymous or an OAuth provider
	ProviderID    string // the identity's provider_id; the user id for email/phone
	IdentityData  map[string]any
	UserMetadata  map[string]any
	AppMetadata   map[string]any
	Role          string
	InvitedAt     *time.Time
	BannedUntil   *time.Time
	ConfirmSentAt *time.Time
}

// createUser inserts a user and its first identity. A taken address is
// errEmailExists / errPhoneExists.
func (s *Service) createUser(ctx context.Context, q querier, n newUser) (*User, error) {
	app := map[string]any{}
	for k, v := range n.AppMetadata {
		app[k] = v
	}
	if n.Provider != "" {
		app["provider"] = n.Provider
		app["providers"] = []string{n.Provider}
	}
	meta := n.UserMetadata
	if meta == nil {
		meta = map[string]any{}
	}
	appJSON, _ := json.Marshal(app)
	metaJSON, _ := json.Marshal(meta)
	role := n.Role
	if role == "" {
		role = "authenticated"
	}
	var confirmedAt any
	if n.Confirmed {
		confirmedAt = s.now()
	}
	var id string
	err := q.QueryRow(ctx, `insert into auth.users
		(email, phone, encrypted_password, email_confirmed_at, phone_confirmed_at, raw_app_meta_data, raw_user_meta_data,
		 role, is_anonymous, invited_at, banned_until, confirmation_sent_at)
		values (nullif($1, ''), nullif($2, ''), nullif($3, ''),
		        case when $1 <> '' then $4::timestamptz end, case when $2 <> '' then $4::timestamptz end,
		        $5, $6, $7, $8, $9, $10, $11)
		returning id::text`,
		n.Email, n.Phone, n.PasswordHash, confirmedAt, appJSON, metaJSON, role, n.Anonymous, n.InvitedAt, n.BannedUntil, n.ConfirmSentAt).Scan(&id)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			if strings.Contains(pgErr.ConstraintName, "phone") {
				return nil, errPhoneExists
			}
			return nil, errEmailExists
		}
		return nil, err
	}
	if n.Provider != "" && n.Provider != "anonymous" {
		data := map[string]any{"sub": id, "email_verified": n.Confirmed, "phone_verified": false}
		if n.Email != "" {
			data["email"] = n.Email
		}
		if n.Phone != "" {
			data["phone"] = n.Phone
		}
		for k, v := range n.IdentityData {
			data[k] = v
		}
		pid := n.ProviderID
		if pid == "" {
			pid = id
		}
		if err := s.addIdentity(ctx, q, id, n.Provider, pid, data); err != nil {
			return nil, err
		}
	}
	return s.loadUser(ctx, q, id)
}

// addIdentity links a sign-in method to a user.
func (s *Service) addIdentity(ctx context.Context, q querier, userID, provider, providerID string, data map[string]any) error {
	b, _ := json.Marshal(data)
	_, err := q.Exec(ctx, `insert into auth.identities (user_id, provider, provider_id, identity_data)
		values ($1, $2, $3, $4)`, userID, provider, providerID, b)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return Err(422, CodeIdentityAlreadyExists, "Identity is already linked to another user")
	}
	return err
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func validUUID(s string) bool { return uuidRE.MatchString(s) }

// normalizeEmail lower-cases and checks an address; "" stays "".
func normalizeEmail(e string) (string, error) {
	e = strings.ToLower(strings.TrimSpace(e))
	if e == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 320 || !strings.Contains(e[strings.LastIndexByte(e, '@'):], ".") {
		return "", Err(400, CodeEmailAddressInvalid, "Unable to validate email address: invalid format")
	}
	return e, nil
}

// requiredEmail is normalizeEmail for a body whose address may not be
// left out; missing is the message the endpoint answers then.
func requiredEmail(e, missing string) (string, error) {
	email, err := normalizeEmail(e)
	if err != nil {
		return "", err
	}
	if email == "" {
		return "", validationFailed(missing)
	}
	return email, nil
}

var phoneRE = regexp.MustCompile(`^[1-9][0-9]{6,14}$`)

// normalizePhone keeps the digits of an E.164 number, as GoTrue stores it.
func normalizePhone(p string) (string, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return "", nil
	}
	p = strings.TrimPrefix(p, "+")
	p = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(p)
	if !phoneRE.MatchString(p) {
		return "", validationFailed("Invalid phone number format (E.164 required)")
	}
	return p, nil
}

// banned reports whether the user is banned now.
func (s *Service) banned(u *User) bool {
	return u.BannedUntil != nil && u.BannedUntil.After(s.now())
}
