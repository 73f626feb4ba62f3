package realtime

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/fluxbase/fluxbase/internal/httpx"
)

// ConnLimits bounds WebSocket connections in total, per client IP and per
// user. A zero limit is unlimited.
type ConnLimits struct {
	Total, PerIP, PerUser int

	mu     sync.Mutex
	total  int
	byIP   map[string]int
	byUser map[string]int
}

// acquire reserves a connection slot, or says which limit is reached.
func (l *ConnLimits) acquire(ip, user string) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byIP == nil {
		l.byIP, l.byUser = map[string]int{}, map[string]int{}
	}
	tooMany := func(what string, n int) error {
		return httpx.NewError(http.StatusTooManyRequests, "too_many_connections",
			"too many realtime connections "+what+" (limit "+strconv.Itoa(n)+")").
			WithHint("close unused connections, or raise the realtime limits in the configuration")
	}
	switch {
	case l.Total > 0 && l.total >= l.Total:
		return nil, tooMany("on this server", l.Total)
	case l.PerIP > 0 && l.byIP[ip] >= l.PerIP:
		return nil, tooMany("from this address", l.PerIP)
	case l.PerUser > 0 && user != "" && l.byUser[user] >= l.PerUser:
		return nil, tooMany("for this user", l.PerUser)
	}
	l.total++
	l.byIP[ip]++
	if user != "" {
		l.byUser[user]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.byIP[ip]--; l.byIP[ip] <= 0 {
				delete(l.byIP, ip)
			}
			if user != "" {
				if l.byUser[user]--; l.byUser[user] <= 0 {
					delete(l.byUser, user)
				}
			}
		})
	}, nil
}
