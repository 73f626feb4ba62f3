package storage

import (
	"context"
	"time"
)

// janitorBatch bounds the keys one sweep claims at a time.
const janitorBatch = 100

// Run removes orphaned bytes every storage.janitor_interval, and soon after
// deletes and overwrites, until ctx is done. Several replicas may run it at
// once: keys are claimed with FOR UPDATE SKIP LOCKED.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.JanitorInterval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("storage janitor: sweep failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.kick:
		}
	}
}

func (s *Service) wakeJanitor() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Sweep deletes the bytes of every key in storage.gc whose time has come
// and that no object references, forgets keys that a committed object does
// reference, and removes temporary files of interrupted local writes. It
// returns how many keys and files it removed.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	removed := 0
	if l, ok := s.backend.(interface {
		RemoveStaleTemp(time.Duration) (int, error)
	}); ok {
		n, err := l.RemoveStaleTemp(s.cfg.OrphanGrace)
		if err != nil {
			s.log.Warn("storage janitor: cannot clear stale temporary files", "error", err)
		}
		removed += n
	}
	for {
		n, more, err := s.sweepBatch(ctx)
		removed += n
		if err != nil || !more {
			return removed, err
		}
	}
}

func (s *Service) sweepBatch(ctx context.Context) (removed int, more bool, err error) {
	tx, err := s.db.Admin.Begin(ctx)
	if err != nil {
		return 0, false, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// Keys that a committed row references are not garbage: their upload
	// committed but the process died before releasing the reservation.
	if _, err := tx.Exec(ctx, `delete from storage.gc g where g.not_before <= now()
		and exists (select 1 from storage.objects o where o.version = g.key)`); err != nil {
		return 0, false, err
	}
	rows, err := tx.Query(ctx, `select key from storage.gc where not_before <= now()
		order by not_before limit $1 for update skip locked`, janitorBatch)
	if err != nil {
		return 0, false, err
	}
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return 0, false, err
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, false, err
	}
	var done []string
	for _, k := range keys {
		if err := s.backend.Delete(ctx, k); err != nil {
			s.log.Warn("storage janitor: cannot delete orphaned bytes", "key", k, "error", err)
			continue
		}
		done = append(done, k)
	}
	if len(done) > 0 {
		if _, err := tx.Exec(ctx, `delete from storage.gc where key = any($1)`, done); err != nil {
			return 0, false, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, false, err
	}
	if len(done) > 0 {
		s.log.Info("storage janitor: removed orphaned bytes", "count", len(done))
	}
	return len(done), len(keys) == janitorBatch && len(done) > 0, nil
}
