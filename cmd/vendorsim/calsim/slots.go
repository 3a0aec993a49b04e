package calsim

import (
	"net/http"
	"strconv"
	"time"
)

// slotTime is how Cal.com writes a slot: the asked time zone's offset, ms.
const slotTime = "2006-01-02T15:04:05.000Z07:00"

// maxSlotRange bounds one slots request, so a typo cannot ask for years.
const maxSlotRange = 62 * 24 * time.Hour

// slots answers GET /v2/slots (2024-09-04): every slot of the requested
// length that starts on the working-hour grid (Options.WorkdayStart to
// WorkdayEnd, Monday to Friday, in Options.Location), lies within
// [start, end], is not in the past and does not overlap an active booking.
// The same bookings and clock give the same slots. Without format=range each
// slot is {"start"}; with it, {"start","end"}. Dates and times are in the
// timeZone parameter (UTC when absent).
func (s *Server) slots(r *http.Request) answer {
	q := r.URL.Query()
	if n, err := strconv.ParseInt(q.Get("eventTypeId"), 10, 64); err != nil || n <= 0 {
		// Cal.com also takes eventTypeSlug with username(s); the connector
		// always sends the id, so the sandbox knows nothing else.
		return fail(r, http.StatusBadRequest, "BadRequestException", "eventTypeId is required")
	}
	out := time.UTC
	if tz := q.Get("timeZone"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return fail(r, http.StatusBadRequest, "BadRequestException", "timeZone must be an IANA time zone")
		}
		out = loc
	}
	from, _, err := parseBound(q.Get("start"), out)
	if err != nil {
		return fail(r, http.StatusBadRequest, "BadRequestException", "start must be a date or an ISO 8601 instant")
	}
	to, dateOnly, err := parseBound(q.Get("end"), out)
	if err != nil {
		return fail(r, http.StatusBadRequest, "BadRequestException", "end must be a date or an ISO 8601 instant")
	}
	if dateOnly {
		to = to.AddDate(0, 0, 1) // a date as end includes that whole day
	}
	if !to.After(from) || to.Sub(from) > maxSlotRange {
		return fail(r, http.StatusBadRequest, "BadRequestException", "end must be after start and at most 62 days later")
	}
	length := time.Duration(s.opts.DefaultLengthMinutes) * time.Minute
	if d := q.Get("duration"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 || n > 24*60 {
			return fail(r, http.StatusBadRequest, "BadRequestException", "duration must be a positive number of minutes")
		}
		length = time.Duration(n) * time.Minute
	}
	ranged := q.Get("format") == "range"
	busy := s.store.busy(from, to)
	now := s.opts.Now()
	data := map[string][]any{}
	loc := s.opts.Location
	for day := dayStart(from.In(loc)); day.Before(to); day = day.AddDate(0, 0, 1) {
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			continue
		}
		// time.Date, not Add, so that working hours stay put on DST days.
		open := time.Date(day.Year(), day.Month(), day.Day(), s.opts.WorkdayStart, 0, 0, 0, loc)
		closed := time.Date(day.Year(), day.Month(), day.Day(), s.opts.WorkdayEnd, 0, 0, 0, loc)
		for st := open; !st.Add(length).After(closed); st = st.Add(length) {
			en := st.Add(length)
			if st.Before(from) || en.After(to) || st.Before(now) || overlaps(busy, st, en) {
				continue
			}
			slot := map[string]any{"start": st.In(out).Format(slotTime)}
			if ranged {
				slot["end"] = en.In(out).Format(slotTime)
			}
			key := st.In(out).Format(time.DateOnly)
			data[key] = append(data[key], slot)
		}
	}
	return answer{status: http.StatusOK, effect: EffectSearch, body: map[string]any{"status": "success", "data": data}}
}

// parseBound reads a slots start or end: a date (midnight in loc) or an
// instant.
func parseBound(v string, loc *time.Location) (time.Time, bool, error) {
	if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
		return t, true, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	return t, false, err
}

func dayStart(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}

func overlaps(busy [][2]time.Time, st, en time.Time) bool {
	for _, b := range busy {
		if st.Before(b[1]) && en.After(b[0]) {
			return true
		}
	}
	return false
}
