package protocol

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// RetryPolicy says which answers are retried and how long to wait between tries
// (gitlab-runner's network/retry_requester.go): 408, 429, 500, 502, 503, 504 and
// anything ≥ 512, up to MaxAttempts tries; the wait comes from RateLimit-ResetTime
// (RFC 1123), else Retry-After (seconds), else Base·2ⁿ with jitter, capped at Max.
type RetryPolicy struct {
	MaxAttempts int           // default 5
	Base        time.Duration // default 100 ms
	Max         time.Duration // default 60 s
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 5
	}
	if p.Base <= 0 {
		p.Base = 100 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 60 * time.Second
	}
	return p
}

func (p RetryPolicy) retryable(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return status >= 512
}

// backoff returns the wait before try attempt+1, honouring the server's headers.
func (p RetryPolicy) backoff(attempt int, h http.Header) time.Duration {
	if h != nil {
		if v := h.Get("RateLimit-ResetTime"); v != "" {
			if t, err := http.ParseTime(v); err == nil {
				return p.clamp(time.Until(t))
			}
		}
		if v := h.Get("Retry-After"); v != "" {
			if s, err := strconv.Atoi(v); err == nil && s >= 0 {
				return p.clamp(time.Duration(s) * time.Second)
			}
		}
	}
	return p.Exponential(attempt)
}

// Exponential returns Base·2^(attempt-1) plus up to 25 % jitter, capped at Max.
func (p RetryPolicy) Exponential(attempt int) time.Duration {
	p = p.withDefaults()
	d := p.Base
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	d += time.Duration(rand.Int64N(int64(d)/4 + 1))
	return p.clamp(d)
}

func (p RetryPolicy) clamp(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	if d > p.Max {
		return p.Max
	}
	return d
}
