package scalar

import (
	"bytes"
	"testing"
	"time"
)

func TestTimeMarshalsInUTC(t *testing.T) {
	instant := time.Date(2026, 12, 3, 15, 4, 5, 0, time.FixedZone("IST", 5*3600+1800))
	var b bytes.Buffer
	MarshalTime(instant).MarshalGQL(&b)
	if want := `"2026-12-03T09:34:05Z"`; b.String() != want {
		t.Errorf("MarshalTime: %s, want %s", b.String(), want)
	}
	back, err := UnmarshalTime("2026-12-03T15:04:05+05:30")
	if err != nil || !back.Equal(instant) {
		t.Errorf("UnmarshalTime: %v, %v; want %v", back, err, instant)
	}
	if _, err := UnmarshalTime("yesterday"); err == nil {
		t.Error("UnmarshalTime(yesterday): no error")
	}
}
