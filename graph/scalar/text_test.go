package scalar

import (
	"testing"

	"github.com/jobsphere/jobsphere"
)

func TestStringAndIDRefuseControlCharacters(t *testing.T) {
	for _, s := range []string{"a\x00b", "\x01", "bell\a", "esc\x1b[31m", "del\x7f", "nel\u0085", "csi\u009b", "bad \xff utf-8"} {
		if _, err := UnmarshalString(s); jobsphere.ErrorCode(err) != jobsphere.BadUserInput {
			t.Errorf("String %q: %v", s, err)
		}
		if _, err := UnmarshalID(s); jobsphere.ErrorCode(err) != jobsphere.BadUserInput {
			t.Errorf("ID %q: %v", s, err)
		}
	}
	for _, s := range []string{"", "plain", "two\r\nlines\tand a tab", "ünïcödé ✓ 日本", "\u00a0no-break space"} {
		if got, err := UnmarshalString(s); err != nil || got != s {
			t.Errorf("String %q: %q, %v", s, got, err)
		}
	}
	for _, s := range []string{"job\n_1", "job\t1", "job\r"} {
		if _, err := UnmarshalID(s); jobsphere.ErrorCode(err) != jobsphere.BadUserInput {
			t.Errorf("ID %q: %v", s, err)
		}
	}
	if id, err := UnmarshalID("job_01J"); err != nil || id != "job_01J" {
		t.Errorf("ID: %q, %v", id, err)
	}
}
