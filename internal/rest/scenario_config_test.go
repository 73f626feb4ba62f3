package rest_test

import "github.com/fluxbase/fluxbase/internal/config"

// Configuration variants of the scenario servers.

func withExplain(c *config.Config) { c.REST.ExplainEnabled = true }

func withoutAggregates(c *config.Config) { c.REST.AggregatesEnabled = false }

func withMaxRows(n int64) func(*config.Config) {
	return func(c *config.Config) { c.REST.MaxRows = n }
}
