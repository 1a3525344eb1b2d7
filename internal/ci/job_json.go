package ci

import (
	"encoding/json"
	"time"
)

// jobFields is Job without its JSON methods.
type jobFields Job

// MarshalJSON writes the job with its durations in seconds, GitLab's unit for
// durations in JSON (runner_info.timeout, a job's duration): "timeout": 5400 and,
// for a delayed job, "start_in": 300.
func (j Job) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		jobFields
		StartIn float64 `json:"start_in,omitempty"`
		Timeout float64 `json:"timeout"`
	}{jobFields(j), j.StartIn.Seconds(), j.Timeout.Seconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (j *Job) UnmarshalJSON(b []byte) error {
	w := struct {
		*jobFields
		StartIn float64 `json:"start_in"`
		Timeout float64 `json:"timeout"`
	}{jobFields: (*jobFields)(j)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	j.StartIn = time.Duration(w.StartIn * float64(time.Second))
	j.Timeout = time.Duration(w.Timeout * float64(time.Second))
	return nil
}
