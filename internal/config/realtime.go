package config

import (
	"regexp"
	"time"
)

// RealtimeConfig configures database changes, broadcast and presence over
// WebSocket.
type RealtimeConfig struct {
	Enabled bool `koanf:"enabled"`
	// Tables are enabled for database changes at every start, as
	// schema.table (or a table of the public schema).
	Tables []string `koanf:"tables"`
	// Connection limits; 0 is unlimited.
	MaxConnections        int `koanf:"max_connections"`
	MaxConnectionsPerIP   int `koanf:"max_connections_per_ip"`
	MaxConnectionsPerUser int `koanf:"max_connections_per_user"`
	// MaxMessageBytes bounds one incoming WebSocket message.
	MaxMessageBytes int64 `koanf:"max_message_bytes" unit:"bytes"`
	// MessagesPerSecond bounds what one connection may send.
	MessagesPerSecond int `koanf:"messages_per_second"`
	// HeartbeatTimeout closes a connection that sent nothing (not even a
	// heartbeat) for this long.
	HeartbeatTimeout time.Duration `koanf:"heartbeat_timeout"`
	// QueueSize bounds the messages waiting to be written to one client;
	// a client that falls this far behind is disconnected.
	QueueSize int `koanf:"queue_size"`
}

func defaultRealtime() RealtimeConfig {
	return RealtimeConfig{
		Enabled:               true,
		Tables:                []string{},
		MaxConnections:        20000,
		MaxConnectionsPerIP:   0,
		MaxConnectionsPerUser: 100,
		MaxMessageBytes:       1 << 20,
		MessagesPerSecond:     100,
		HeartbeatTimeout:      30 * time.Second,
		QueueSize:             1024,
	}
}

var realtimeTableName = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$`)

func (c *Config) realtimeProblems(ch *checker) {
	r := c.Realtime
	for _, t := range r.Tables {
		if !realtimeTableName.MatchString(t) {
			ch.add("realtime.tables", "%q is not a table name; use schema.table such as public.messages", t)
		}
	}
	for key, v := range map[string]int{
		"realtime.max_connections":          r.MaxConnections,
		"realtime.max_connections_per_ip":   r.MaxConnectionsPerIP,
		"realtime.max_connections_per_user": r.MaxConnectionsPerUser,
		"realtime.messages_per_second":      r.MessagesPerSecond,
	} {
		if v < 0 {
			ch.add(key, "must not be negative; use 0 for no limit")
		}
	}
	if r.MaxMessageBytes < 1024 {
		ch.add("realtime.max_message_bytes", "must be at least 1KiB, such as 1MiB")
	}
	ch.positive("realtime.heartbeat_timeout", r.HeartbeatTimeout, "60s")
	if r.QueueSize < 16 {
		ch.add("realtime.queue_size", "must be at least 16, such as 1024")
	}
}
