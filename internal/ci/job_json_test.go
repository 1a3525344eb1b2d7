package ci

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestJobJSONWritesDurationsInSecondsAndReadsThemBack(t *testing.T) {
	j := jobOf(t, pipelineOf(t, `
deploy:
  script: x
  when: delayed
  start_in: 5 minutes
  timeout: 1h 30m
`), "deploy")
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	if fields["timeout"] != 5400.0 || fields["start_in"] != 300.0 {
		t.Errorf("timeout = %v, start_in = %v; want 5400 and 300 (seconds)", fields["timeout"], fields["start_in"])
	}
	if s := string(b); strings.Contains(s, "_ns") || !strings.Contains(s, `"name":"deploy"`) || !strings.Contains(s, `"spec":{`) {
		t.Errorf("JSON = %s", s)
	}
	var back Job
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Timeout != 90*time.Minute || back.StartIn != 5*time.Minute || !reflect.DeepEqual(back, *j) {
		t.Errorf("round trip changed the job:\n got %+v\nwant %+v", back, *j)
	}
	plain, _ := json.Marshal(jobOf(t, pipelineOf(t, "test: {script: x}"), "test"))
	if strings.Contains(string(plain), "start_in") {
		t.Errorf("a job that is not delayed has no start_in: %s", plain)
	}
}
