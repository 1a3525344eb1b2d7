package web

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-ci/kiln/internal/machine"
	"github.com/kiln-ci/kiln/internal/protocol"
	"github.com/kiln-ci/kiln/internal/store"
)

// funcs are the templates' functions. Those returning template.HTML build it from
// constants and escaped values only.
func (h *Handler) funcs() template.FuncMap {
	return template.FuncMap{
		"status":    statusBadge,
		"icon":      statusIcon,
		"label":     statusLabel,
		"ago":       h.ago,
		"duration":  formatDuration,
		"short":     shortSHA,
		"gb":        machine.FormatGB,
		"gib":       formatSize,
		"minutes":   formatMinutes,
		"percent":   func(f float64) string { return strconv.FormatFloat(math.Floor(f*10)/10, 'f', -1, 64) },
		"join":      strings.Join,
		"failure":   failureText,
		"dec":       func(i int) int { return i - 1 },
		"inc":       func(i int) int { return i + 1 },
		"finished":  func(s store.Status) bool { return s.Finished() },
		"seconds":   func(n int) time.Duration { return time.Duration(n) * time.Second },
		"hasPrefix": strings.HasPrefix,
		"initial":   initial,
		"title":     title,
	}
}

// statusLabels are GitLab's words for statuses in badges.
var statusLabels = map[store.Status]string{
	store.StatusCreated: "created", store.StatusWaitingForResource: "waiting", store.StatusPreparing: "preparing",
	store.StatusPending: "pending", store.StatusRunning: "running", store.StatusSuccess: "passed",
	store.StatusFailed: "failed", store.StatusCanceling: "canceling", store.StatusCanceled: "canceled",
	store.StatusSkipped: "skipped", store.StatusManual: "manual", store.StatusScheduled: "delayed",
}

func statusLabel(s store.Status, warnings bool) string {
	if warnings && s == store.StatusSuccess {
		return "warning"
	}
	if l, ok := statusLabels[s]; ok {
		return l
	}
	return string(s)
}

// statusClass is the CSS class of a status's colour.
func statusClass(s store.Status, warnings bool) string {
	if warnings && s == store.StatusSuccess {
		return "ci-warning"
	}
	if _, ok := statusLabels[s]; ok {
		return "ci-" + string(s)
	}
	return "ci-created"
}

const ring = `<circle cx="8" cy="8" r="6.75" fill="none" stroke="currentColor" stroke-width="1.5"/>`

// statusGlyphs are drawn inside the ring, 16×16, in the status's colour.
var statusGlyphs = map[string]string{
	"success":   ring + `<path d="M5 8.3l2 2 4-4.3" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/>`,
	"failed":    ring + `<path d="M5.7 5.7l4.6 4.6m0-4.6l-4.6 4.6" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/>`,
	"running":   ring + `<path d="M8 3.8a4.2 4.2 0 0 1 0 8.4z" fill="currentColor"/>`,
	"pending":   ring + `<path d="M6.5 5.6v4.8m3-4.8v4.8" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/>`,
	"canceled":  ring + `<path d="M5.2 10.8l5.6-5.6" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/>`,
	"skipped":   ring + `<path d="M5.2 5.6L7.6 8l-2.4 2.4m3.2-4.8L10.8 8l-2.4 2.4" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round" stroke-linejoin="round"/>`,
	"manual":    ring + `<circle cx="8" cy="8" r="1.9" fill="none" stroke="currentColor" stroke-width="1.4"/><path d="M8 4.2v1.4m0 4.8v1.4M4.2 8h1.4m4.8 0h1.4" stroke="currentColor" stroke-width="1.4" stroke-linecap="round"/>`,
	"scheduled": ring + `<path d="M8 4.6V8l2.3 1.5" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round" stroke-linejoin="round"/>`,
	"warning":   ring + `<path d="M8 4.6v4.2" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/><circle cx="8" cy="11.1" r="0.95" fill="currentColor"/>`,
	"created":   `<circle cx="8" cy="8" r="6.75" fill="none" stroke="currentColor" stroke-width="1.5" stroke-dasharray="2.2 1.9"/>`,
}

// glyphFor maps every status onto one of statusGlyphs.
func glyphFor(s store.Status, warnings bool) string {
	switch {
	case warnings && s == store.StatusSuccess:
		return statusGlyphs["warning"]
	case s == store.StatusCanceling:
		return statusGlyphs["canceled"]
	case s == store.StatusPreparing || s == store.StatusWaitingForResource:
		return statusGlyphs["pending"]
	}
	if g, ok := statusGlyphs[string(s)]; ok {
		return g
	}
	return statusGlyphs["created"]
}

// statusIcon is a status's icon alone, with its label as its accessible name.
func statusIcon(s store.Status, warnings bool) template.HTML {
	label := template.HTMLEscapeString("Status: " + statusLabel(s, warnings))
	return template.HTML(`<span class="ci-icon ` + statusClass(s, warnings) + `" title="` + label + `">` +
		`<svg viewBox="0 0 16 16" width="16" height="16" role="img" aria-label="` + label + `">` + glyphFor(s, warnings) + `</svg></span>`)
}

// statusBadge is GitLab's status badge: icon and label in the status's colour.
func statusBadge(s store.Status, warnings bool) template.HTML {
	return template.HTML(`<span class="ci-badge ` + statusClass(s, warnings) + `">` +
		`<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">` + glyphFor(s, warnings) + `</svg>` +
		template.HTMLEscapeString(statusLabel(s, warnings)) + `</span>`)
}

// ago shows a time as "3 minutes ago", with the exact UTC time as its title.
func (h *Handler) ago(t time.Time) template.HTML {
	if t.IsZero() {
		return ""
	}
	d := h.now().Sub(t)
	var rel string
	switch {
	case d < 0:
		rel = "just now"
	case d < time.Minute:
		rel = "just now"
	case d < time.Hour:
		rel = plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		rel = plural(int(d/time.Hour), "hour") + " ago"
	case d < 30*24*time.Hour:
		rel = plural(int(d/(24*time.Hour)), "day") + " ago"
	case d < 365*24*time.Hour:
		rel = plural(int(d/(30*24*time.Hour)), "month") + " ago"
	default:
		rel = plural(int(d/(365*24*time.Hour)), "year") + " ago"
	}
	utc := t.UTC()
	return template.HTML(`<time datetime="` + utc.Format(time.RFC3339) + `" title="` +
		utc.Format("Jan 2, 2006 3:04pm UTC") + `">` + rel + `</time>`)
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// formatDuration shows a duration as GitLab shows a job's: hh:mm:ss; "" for none
// (under half a second).
func formatDuration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s <= 0 {
		return ""
	}
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

func shortSHA(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}

// formatMinutes shows compute minutes with thousands separators: "10,000" or "12.5".
func formatMinutes(m float64) string {
	m = math.Round(m*10) / 10
	whole, frac := math.Modf(m)
	s := strconv.FormatInt(int64(whole), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != 0 {
		fmt.Fprintf(&b, ".%d", int64(math.Round(math.Abs(frac)*10)))
	}
	return b.String()
}

// failureTexts say why a job failed, in GitLab's words where GitLab has them.
var failureTexts = map[string]string{
	protocol.FailureUnknown:             "There is an unknown failure, please try again",
	protocol.FailureAPI:                 "There has been an API failure, please try again",
	protocol.FailureStuckOrTimeout:      "There has been a timeout failure or the job got stuck. Check your timeout limits or try again",
	protocol.FailureRunnerSystem:        "There has been a runner system failure, please try again",
	"missing_dependency_failure":        "There has been a missing dependency failure",
	protocol.FailureJobExecutionTimeout: "The script exceeded the maximum execution time set for the job",
	protocol.FailureQuotaExceeded:       "No more compute minutes available",
	protocol.FailureNoMatchingRunner:    "No matching runner available",
	protocol.FailureImagePull:           "The job's image could not be pulled",
	protocol.FailureConfiguration:       "The runner's configuration is invalid",
	protocol.FailureExternalDependency:  "A service the runner depends on failed",
	protocol.FailureRunnerInterrupted:   "The runner was interrupted while it ran the job",
	protocol.FailureOutOfMemory:         "The job ran out of memory: it used more than its machine type allows",
	protocol.FailureGPUFault:            "A GPU failed its health check or could not be cleaned after the job",
	protocol.FailureGPUUnavailable:      "No registered runner has GPUs that satisfy the job's request",
	protocol.FailureCUDAIncompatible:    "The job's image needs a newer CUDA version than the GPU driver provides",
	protocol.FailurePlanNotAllowed:      "The job's machine type is not available on the namespace's plan",
	"data_integrity_failure":            "There has been a structural integrity problem detected, please contact system administrator",
	"unmet_prerequisites":               "The job failed to complete prerequisite tasks",
}

// failureText is the sentence for a failure reason; script failures have none.
func failureText(reason string) string {
	if reason == "" || reason == protocol.FailureScript {
		return ""
	}
	if t, ok := failureTexts[reason]; ok {
		return t
	}
	return strings.ReplaceAll(reason, "_", " ")
}

// initial is the first letter of a name, upper-cased, for an avatar.
func initial(name string) string {
	for _, r := range name {
		return strings.ToUpper(string(r))
	}
	return "?"
}

// title capitalises a word: "premium" → "Premium".
func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// formatSize prints a byte count of any integer type in binary units ("12 GiB").
func formatSize(n any) string {
	switch v := n.(type) {
	case uint64:
		return machine.FormatBytes(v)
	case int64:
		return machine.FormatBytes(uint64(max(v, 0)))
	case int:
		return machine.FormatBytes(uint64(max(v, 0)))
	}
	return fmt.Sprint(n)
}
