package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Publication is the publication enable_realtime adds tables to.
const Publication = "fluxbase_realtime"

// StreamState is where the change stream is in its life.
type StreamState int32

const (
	// StreamConnecting: no replication slot yet; changes committed now are
	// not guaranteed to be delivered.
	StreamConnecting StreamState = iota
	// StreamLive: the slot exists and changes flow.
	StreamLive
	// StreamDown: the connection broke; the stream is reconnecting and
	// changes committed meanwhile are lost (the slot is temporary).
	StreamDown
)

func (s StreamState) String() string {
	switch s {
	case StreamLive:
		return "live"
	case StreamDown:
		return "down"
	}
	return "connecting"
}

// StreamEvent reports a change of state to the stream's owner, which tells
// subscribers (a system event) so that nobody misses changes silently.
type StreamEvent struct {
	State StreamState
	Err   error
}

// StreamOptions configure a Stream.
type StreamOptions struct {
	// DSN reaches the database as a role with the REPLICATION attribute
	// (the owner). "replication=database" is added.
	DSN string
	// OnChange receives every change, in commit order, from one goroutine.
	OnChange func(*Change)
	// OnState is told when the stream goes live, breaks or reconnects.
	OnState func(StreamEvent)
	// StatusInterval is how often the position is confirmed to the server,
	// which lets it recycle WAL. Default 1s.
	StatusInterval time.Duration
	Logger         *slog.Logger
}

// Stream reads the publication's changes through a temporary logical
// replication slot (pgoutput). The slot belongs to this process and
// disappears with its connection, so a crashed instance never pins WAL; the
// price is that changes committed while the stream is down are not
// delivered, which is why every break is reported to subscribers.
type Stream struct {
	opts  StreamOptions
	slot  string
	state atomic.Int32

	mu      sync.Mutex
	waiters []chan struct{} // closed when the stream is next live

	// Position and lag, for metrics.
	received  atomic.Uint64 // last LSN received
	confirmed atomic.Uint64 // last LSN confirmed to the server
	serverEnd atomic.Uint64 // server's WAL end at the last keepalive
}

// NewStream prepares a stream; Run starts it.
func NewStream(opts StreamOptions) *Stream {
	if opts.StatusInterval <= 0 {
		opts.StatusInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Stream{opts: opts, slot: "fluxbase_rt_" + hex.EncodeToString(b[:])}
}

// State is the stream's current state.
func (s *Stream) State() StreamState { return StreamState(s.state.Load()) }

// SlotName is this instance's replication slot.
func (s *Stream) SlotName() string { return s.slot }

// LagBytes is how far the stream is behind the server's WAL end, as of the
// last keepalive.
func (s *Stream) LagBytes() uint64 {
	end, got := s.serverEnd.Load(), s.received.Load()
	if end > got {
		return end - got
	}
	return 0
}

// WaitLive returns once the stream is live (or ctx ends). A subscription
// acknowledged after WaitLive returns receives every change committed after
// the acknowledgement: the slot exists, and changes are matched against
// subscriptions only after they are decoded, which is after they commit.
func (s *Stream) WaitLive(ctx context.Context) error {
	s.mu.Lock()
	if s.State() == StreamLive {
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	s.waiters = append(s.waiters, ch)
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Stream) setState(st StreamState, err error) {
	s.mu.Lock()
	prev := StreamState(s.state.Swap(int32(st)))
	var waiters []chan struct{}
	if st == StreamLive {
		waiters, s.waiters = s.waiters, nil
	}
	s.mu.Unlock()
	for _, ch := range waiters {
		close(ch)
	}
	if prev != st && s.opts.OnState != nil {
		s.opts.OnState(StreamEvent{State: st, Err: err})
	}
}

// Run streams changes until ctx ends, reconnecting with backoff after any
// failure.
func (s *Stream) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		started := time.Now()
		err := s.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.setState(StreamDown, err)
		s.opts.Logger.Warn("realtime change stream broke; reconnecting", "error", err, "retry_in", backoff.String())
		if time.Since(started) > 30*time.Second {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (s *Stream) runOnce(ctx context.Context) error {
	cfg, err := pgconn.ParseConfig(s.opts.DSN)
	if err != nil {
		return fmt.Errorf("realtime: database address: %w", err)
	}
	cfg.RuntimeParams["replication"] = "database"
	cfg.RuntimeParams["application_name"] = "fluxbase realtime"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	slot, err := pglogrepl.CreateReplicationSlot(ctx, conn, s.slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Temporary: true, Mode: pglogrepl.LogicalReplication, SnapshotAction: "NOEXPORT_SNAPSHOT"})
	if err != nil {
		return fmt.Errorf("realtime: create replication slot: %w", err)
	}
	// Decoding starts at the slot's consistent point: every transaction
	// committed after it is streamed.
	start, err := pglogrepl.ParseLSN(slot.ConsistentPoint)
	if err != nil {
		return fmt.Errorf("realtime: slot position %q: %w", slot.ConsistentPoint, err)
	}
	if err := pglogrepl.StartReplication(ctx, conn, s.slot, start, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names '" + Publication + "'"},
	}); err != nil {
		return fmt.Errorf("realtime: start replication: %w", err)
	}
	s.received.Store(uint64(start))
	s.confirmed.Store(uint64(start))
	s.setState(StreamLive, nil)
	s.opts.Logger.Info("realtime change stream live", "slot", s.slot, "lsn", start.String())

	dec := newDecoder()
	// confirmed only advances at transaction boundaries, so a restart never
	// skips half a transaction.
	safe := start
	nextStatus := time.Now().Add(s.opts.StatusInterval)
	for {
		if time.Now().After(nextStatus) {
			if err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{
				WALWritePosition: safe, WALFlushPosition: safe, WALApplyPosition: safe,
			}); err != nil {
				return fmt.Errorf("realtime: status update: %w", err)
			}
			s.confirmed.Store(uint64(safe))
			nextStatus = time.Now().Add(s.opts.StatusInterval)
		}
		rctx, cancel := context.WithDeadline(ctx, nextStatus)
		raw, err := conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if pgconn.Timeout(err) && ctx.Err() == nil {
				continue
			}
			return err
		}
		switch msg := raw.(type) {
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("realtime: replication error: %s (SQLSTATE %s)", msg.Message, msg.Code)
		case *pgproto3.CopyData:
			if len(msg.Data) == 0 {
				continue
			}
			switch msg.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(msg.Data[1:])
				if err != nil {
					return err
				}
				s.serverEnd.Store(uint64(ka.ServerWALEnd))
				// With nothing in flight the server's end is a safe point:
				// everything before it was either sent or not published.
				if !dec.inTx && ka.ServerWALEnd > safe {
					safe = ka.ServerWALEnd
					s.received.Store(uint64(ka.ServerWALEnd))
				}
				if ka.ReplyRequested {
					nextStatus = time.Time{}
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(msg.Data[1:])
				if err != nil {
					return err
				}
				end := xld.WALStart + pglogrepl.LSN(len(xld.WALData))
				if end > pglogrepl.LSN(s.received.Load()) {
					s.received.Store(uint64(end))
				}
				change, commit, err := dec.decode(xld.WALData)
				if err != nil {
					return err
				}
				if change != nil && s.opts.OnChange != nil {
					s.opts.OnChange(change)
				}
				if commit != 0 {
					safe = commit
				}
			}
		}
	}
}

var errNoRelation = errors.New("realtime: change for a relation the stream has not been told about")
