// Package httpx owns what every HTTP endpoint shares: the one error type
// and its JSON rendering ({code, message, details, hint}), the middleware
// stack (request id, client address behind trusted proxies, access log,
// metrics, panic recovery, security headers, CORS, body limits), the JSON
// 404/405 handlers, and the http.Server settings that bound slow clients.
//
// Use Stack or NewRouter for the standard order. AccessLog and Metrics must
// run inside the chi router (Router.Use) because the route pattern they
// report is only known once routing has happened.
//
// This package must not know about any service: no database, no identity,
// no routes of its own. Others add to the access log line through
// SetLogAttr rather than by depending on this package's internals.
package httpx
