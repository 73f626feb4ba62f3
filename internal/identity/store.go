package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/jackc/pgx/v5"
)

// keysLockSQL serializes the writers of fluxbase.signing_keys across
// replicas. The lock id is derived from a name rather than picked as a
// number so that it cannot collide with the other advisory locks by accident.
const keysLockSQL = `select pg_advisory_xact_lock(hashtextextended('fluxbase.signing_keys', 0))`

// querier is what both a pool and a transaction offer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// loadKeys reads the current and previous keys, the current one first. The
// private half is read for the current key only: it is the only one that
// signs.
func loadKeys(ctx context.Context, q querier) ([]*signingKey, error) {
	rows, err := q.Query(ctx, `
		select kid, algorithm, public_key,
		       case when status = 'current' then private_key end,
		       status, coalesce(anon_key, ''), coalesce(service_role_key, ''), created_at
		  from fluxbase.signing_keys
		 where status in ('current', 'previous')
		 order by status = 'current' desc, created_at desc, kid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []*signingKey
	for rows.Next() {
		var (
			k           signingKey
			alg, pubPEM string
			privPEM     *string
		)
		if err := rows.Scan(&k.kid, &alg, &pubPEM, &privPEM, &k.status, &k.anonKey, &k.serviceRoleKey, &k.createdAt); err != nil {
			return nil, err
		}
		if alg != algES256 {
			return nil, fmt.Errorf("key %s has algorithm %s, which this version does not support", k.kid, alg)
		}
		if k.public, err = decodePublicPEM(pubPEM); err != nil {
			return nil, fmt.Errorf("key %s: %w", k.kid, err)
		}
		// The kid is the key's thumbprint; a mismatch means the row was
		// edited by hand and tokens would be attributed to the wrong key.
		if tp, err := thumbprint(k.public); err != nil || tp != k.kid {
			return nil, fmt.Errorf("key %s: kid is not the thumbprint of its public key", k.kid)
		}
		if privPEM != nil {
			if k.private, err = decodePrivatePEM(*privPEM); err != nil {
				return nil, fmt.Errorf("key %s: %w", k.kid, err)
			}
			if !k.private.PublicKey.Equal(k.public) {
				return nil, fmt.Errorf("key %s: private and public keys do not match", k.kid)
			}
		}
		keys = append(keys, &k)
	}
	return keys, rows.Err()
}

func currentKey(keys []*signingKey) *signingKey {
	for _, k := range keys {
		if k.status == statusCurrent {
			return k
		}
	}
	return nil
}

// ensureKeys makes sure there is a current key whose stored API keys match
// the configuration. The common case (a later start) is one read and no
// lock; otherwise the check is repeated under the advisory lock, so that of
// several replicas starting at once exactly one generates the key.
func (s *Service) ensureKeys(ctx context.Context) error {
	keys, err := loadKeys(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	if cur := currentKey(keys); cur != nil && s.apiKeysFresh(cur) {
		return nil
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, keysLockSQL); err != nil {
			return err
		}
		keys, err := loadKeys(ctx, tx)
		if err != nil {
			return fmt.Errorf("load signing keys: %w", err)
		}
		cur := currentKey(keys)
		if cur == nil {
			k, err := s.insertCurrentKey(ctx, tx)
			if err != nil {
				return err
			}
			s.log.Info("generated the signing key", "kid", k.kid, "algorithm", algES256)
			return nil
		}
		if s.apiKeysFresh(cur) {
			return nil
		}
		anon, svc, err := s.mintAPIKeys(cur)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx,
			`update fluxbase.signing_keys set anon_key = $2, service_role_key = $3 where kid = $1`,
			cur.kid, anon, svc); err != nil {
			return fmt.Errorf("store API keys: %w", err)
		}
		s.log.Info("minted new anon and service_role keys: the JWT configuration changed", "kid", cur.kid)
		return nil
	})
}

// insertCurrentKey generates a key and stores it, with its API keys, as the
// current key. The caller holds the advisory lock and has demoted any
// previous current key.
func (s *Service) insertCurrentKey(ctx context.Context, tx pgx.Tx) (*signingKey, error) {
	priv, err := generateES256()
	if err != nil {
		return nil, err
	}
	kid, err := thumbprint(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	k := &signingKey{kid: kid, status: statusCurrent, public: &priv.PublicKey, private: priv}
	// Whole seconds, because iat of the API keys is derived from it and JWT
	// times are integers.
	if err := tx.QueryRow(ctx, `select date_trunc('second', now())`).Scan(&k.createdAt); err != nil {
		return nil, err
	}
	if k.anonKey, k.serviceRoleKey, err = s.mintAPIKeys(k); err != nil {
		return nil, err
	}
	privPEM, err := encodePrivatePEM(priv)
	if err != nil {
		return nil, err
	}
	pubPEM, err := encodePublicPEM(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `
		insert into fluxbase.signing_keys
		       (kid, algorithm, private_key, public_key, status, anon_key, service_role_key, created_at)
		values ($1, $2, $3, $4, 'current', $5, $6, $7)`,
		kid, algES256, privPEM, pubPEM, k.anonKey, k.serviceRoleKey, k.createdAt); err != nil {
		return nil, fmt.Errorf("store signing key: %w", err)
	}
	return k, nil
}

// Rotate generates a new current signing key and demotes the current one to
// previous. Tokens signed with the previous key keep verifying, and it stays
// in the JWKS, until it is revoked with Revoke; new tokens and the anon and
// service_role keys come from the new key. Other replicas switch within a
// minute (see Run), or as soon as they see a token with the new kid.
func (s *Service) Rotate(ctx context.Context) (kid string, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, keysLockSQL); err != nil {
			return err
		}
		// The previous key's API keys are credentials nobody needs to read
		// any more: its tokens verify with the public key alone.
		if _, err := tx.Exec(ctx, `
			update fluxbase.signing_keys
			   set status = 'previous', rotated_at = now(), anon_key = null, service_role_key = null
			 where status = 'current'`); err != nil {
			return fmt.Errorf("demote current key: %w", err)
		}
		k, err := s.insertCurrentKey(ctx, tx)
		if err != nil {
			return err
		}
		kid = k.kid
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("identity: rotate: %w", err)
	}
	s.log.Info("rotated the signing key", "kid", kid)
	if err := s.Reload(ctx); err != nil {
		return kid, err
	}
	return kid, nil
}

// ErrRevokeCurrent is returned by Revoke for the current key: rotate first,
// so that there is always a key to sign with.
var ErrRevokeCurrent = errors.New("identity: the current signing key cannot be revoked; rotate first")

// ErrNoSuchKey is returned by Revoke for a kid that is not a previous key.
var ErrNoSuchKey = errors.New("identity: no previous signing key with this kid")

// Revoke stops a previous key from verifying tokens and erases its private
// half. Other replicas stop accepting it at their next reload (see Run).
func (s *Service) Revoke(ctx context.Context, kid string) error {
	var status string
	err := s.pool.QueryRow(ctx, `
		with target as (
			select kid, status from fluxbase.signing_keys where kid = $1
		), revoked as (
			update fluxbase.signing_keys k
			   set status = 'revoked', revoked_at = now(),
			       private_key = null, anon_key = null, service_role_key = null
			  from target
			 where k.kid = target.kid and target.status = 'previous'
		)
		select status from target`, kid).Scan(&status)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ErrNoSuchKey
	case err != nil:
		return fmt.Errorf("identity: revoke: %w", err)
	case status == statusCurrent:
		return ErrRevokeCurrent
	case status == statusRevoked:
		// Already revoked: revoking is idempotent.
	}
	s.log.Info("revoked a signing key", "kid", kid)
	return s.Reload(ctx)
}

// roundTrip turns claims into what decoding their JSON gives, so that they
// compare equal to decoded claims (numbers become float64).
func roundTrip(c map[string]any) (map[string]any, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(b, &out)
}

func claimsEqual(a, b map[string]any) bool {
	return reflect.DeepEqual(a, b)
}
