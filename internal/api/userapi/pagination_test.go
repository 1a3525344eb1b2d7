package userapi

import (
	"context"
	"fmt"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/kiln-ci/kiln/internal/store"
)

// fakeList is a store list of n records that counts the calls made to it.
type fakeList struct {
	n     int
	calls int
}

func (f *fakeList) fetch(_ context.Context, page store.Page) ([]int, error) {
	f.calls++
	limit, off := page.Bounds()
	var out []int
	for i := off; i < f.n && len(out) < limit; i++ {
		out = append(out, i)
	}
	return out, nil
}

func TestStorePageCountsTheRecordsCheaply(t *testing.T) {
	for _, tc := range []struct {
		n, page, perPage int
		wantItems        int
		wantTotal        int
		maxCalls         int
	}{
		{n: 0, page: 1, perPage: 20, wantItems: 0, wantTotal: 0, maxCalls: 1},
		{n: 5, page: 1, perPage: 20, wantItems: 5, wantTotal: 5, maxCalls: 1},
		{n: 20, page: 1, perPage: 20, wantItems: 20, wantTotal: 20, maxCalls: 1},
		{n: 21, page: 1, perPage: 20, wantItems: 20, wantTotal: 21, maxCalls: 10},
		{n: 45, page: 2, perPage: 20, wantItems: 20, wantTotal: 45, maxCalls: 12},
		{n: 45, page: 3, perPage: 20, wantItems: 5, wantTotal: 45, maxCalls: 1},
		{n: 45, page: 30, perPage: 20, wantItems: 0, wantTotal: 45, maxCalls: 12},
		{n: 9_999, page: 1, perPage: 100, wantItems: 100, wantTotal: 9_999, maxCalls: 30},
		{n: 10_000, page: 1, perPage: 100, wantItems: 100, wantTotal: 10_000, maxCalls: 30},
		{n: 10_001, page: 1, perPage: 100, wantItems: 100, wantTotal: -1, maxCalls: 10},
		{n: 1_000_000, page: 7, perPage: 100, wantItems: 100, wantTotal: -1, maxCalls: 10},
	} {
		t.Run(fmt.Sprintf("%d records, page %d of %d", tc.n, tc.page, tc.perPage), func(t *testing.T) {
			f := &fakeList{n: tc.n}
			items, total, err := storePage(context.Background(), pagination{page: tc.page, perPage: tc.perPage}, f.fetch)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != tc.wantItems || total != tc.wantTotal {
				t.Errorf("%d items, total %d; want %d, %d", len(items), total, tc.wantItems, tc.wantTotal)
			}
			if len(items) > 0 && items[0] != (tc.page-1)*tc.perPage {
				t.Errorf("first item %d, want %d", items[0], (tc.page-1)*tc.perPage)
			}
			if f.calls > tc.maxCalls {
				t.Errorf("%d store calls, want at most %d", f.calls, tc.maxCalls)
			}
		})
	}
}

// count counts the list's records up to upTo, as the store's Count* methods do.
func (f *fakeList) count(_ context.Context, upTo int) (int, error) {
	f.calls++
	return min(f.n, upTo), nil
}

func TestCountedPageReadsAPageAndCountsOnce(t *testing.T) {
	for _, tc := range []struct {
		n, page, perPage int
		wantItems        int
		wantTotal        int
		wantCalls        int
	}{
		{n: 0, page: 1, perPage: 20, wantItems: 0, wantTotal: 0, wantCalls: 1},
		{n: 5, page: 1, perPage: 20, wantItems: 5, wantTotal: 5, wantCalls: 1},
		{n: 20, page: 1, perPage: 20, wantItems: 20, wantTotal: 20, wantCalls: 2},
		{n: 21, page: 1, perPage: 20, wantItems: 20, wantTotal: 21, wantCalls: 2},
		{n: 45, page: 3, perPage: 20, wantItems: 5, wantTotal: 45, wantCalls: 1},
		{n: 45, page: 30, perPage: 20, wantItems: 0, wantTotal: 45, wantCalls: 2},
		{n: 10_000, page: 1, perPage: 100, wantItems: 100, wantTotal: 10_000, wantCalls: 2},
		{n: 10_001, page: 1, perPage: 100, wantItems: 100, wantTotal: -1, wantCalls: 2},
		{n: 1_000_000, page: 7, perPage: 100, wantItems: 100, wantTotal: -1, wantCalls: 2},
	} {
		t.Run(fmt.Sprintf("%d records, page %d of %d", tc.n, tc.page, tc.perPage), func(t *testing.T) {
			f := &fakeList{n: tc.n}
			items, total, err := countedPage(context.Background(), pagination{page: tc.page, perPage: tc.perPage}, f.fetch, f.count)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != tc.wantItems || total != tc.wantTotal {
				t.Errorf("%d items, total %d; want %d, %d", len(items), total, tc.wantItems, tc.wantTotal)
			}
			if len(items) > 0 && items[0] != (tc.page-1)*tc.perPage {
				t.Errorf("first item %d, want %d", items[0], (tc.page-1)*tc.perPage)
			}
			if f.calls != tc.wantCalls {
				t.Errorf("%d store calls, want %d", f.calls, tc.wantCalls)
			}
		})
	}
}

func TestPageHeadersLeaveOutTheTotalBeyondGitLabsCap(t *testing.T) {
	h := &Handler{}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/api/v4/projects/1/jobs?page=2&per_page=50", nil)
	h.setPageHeadersAt(w, r, "http://kiln", pagination{page: 2, perPage: 50}, 50, -1)
	hd := w.Header()
	if hd.Get("X-Total") != "" || hd.Get("X-Total-Pages") != "" || hd.Get("X-Next-Page") != "3" || hd.Get("X-Prev-Page") != "1" {
		t.Errorf("headers %v", hd)
	}
	if l := hd.Get("Link"); strings.Contains(l, `rel="last"`) || !strings.Contains(l, `<http://kiln/api/v4/projects/1/jobs?page=3&per_page=50>; rel="next"`) {
		t.Errorf("Link %q", l)
	}
}

func TestFormsAreReadAsRackReadsThem(t *testing.T) {
	p := params{}
	p.addPairs(queryPairs("ref=main&variables[][key]=A&variables[][value]=1&variables[][key]=B&variables[][value]=2" +
		"&tag_list[]=gpu&tag_list[]=cuda&filter[environment_scope]=prod&empty="))
	want := params{
		"ref": "main",
		"variables": []any{
			map[string]any{"key": "A", "value": "1"},
			map[string]any{"key": "B", "value": "2"},
		},
		"tag_list":                  []any{"gpu", "cuda"},
		"filter[environment_scope]": "prod",
		"empty":                     "",
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("params %#v\nwant %#v", p, want)
	}
	tags, err := p.list("tag_list")
	if err != nil || strings.Join(tags, ",") != "gpu,cuda" {
		t.Errorf("tag_list %v %v", tags, err)
	}
	comma := params{"tag_list": "gpu, cuda,,"}
	if tags, _ := comma.list("tag_list"); strings.Join(tags, ",") != "gpu,cuda" {
		t.Errorf("comma-separated tag_list %v", tags)
	}
}

func TestParameterErrorsNameTheParameter(t *testing.T) {
	p := params{"n": "x", "b": "perhaps", "l": map[string]any{}, "d": "31/12/2030"}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{func() error { _, err := p.id("n"); return err }(), "n is invalid"},
		{func() error { _, err := p.boolean("b", false); return err }(), "b is invalid"},
		{func() error { _, err := p.list("l"); return err }(), "l is invalid"},
		{func() error { _, err := p.date("d"); return err }(), "d is invalid"},
		{func() error { _, err := p.required("missing"); return err }(), "missing is missing"},
		{func() error { _, err := p.oneOf("n", "", "a", "b"); return err }(), "n does not have a valid value"},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("error %v, want %q", tc.err, tc.want)
		}
	}
	for _, s := range []string{"true", "1", "yes", "t"} {
		if b, err := (params{"b": s}).boolean("b", false); err != nil || !b {
			t.Errorf("%q reads as %v, %v", s, b, err)
		}
	}
}
