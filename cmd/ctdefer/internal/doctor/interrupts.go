package doctor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ctdefer/ctdefer/cmd/ctdefer/internal/host"
)

// checkIRQs: which IRQs may be delivered to a candidate
// (smp_affinity_list), and which are now (effective_affinity_list)?
func (st *state) checkIRQs() Check {
	const id, name = "irq-affinity", "IRQs that may hit the candidates"
	fix := fmt.Sprintf("as root, for each IRQ listed: echo %s > /proc/irq/N/smp_affinity_list; stop irqbalance or set IRQBALANCE_BANNED_CPULIST=%s; boot with irqaffinity=%s (managed IRQs also need isolcpus=managed_irq,...)", st.hk(), st.cl(), st.hk())
	irqs, err := host.ReadIRQs(st.fs)
	if err != nil {
		return unknown(id, GroupInterrupts, name, err, fix)
	}
	if len(irqs) == 0 {
		return unknown(id, GroupInterrupts, name, errors.New("no IRQ listed under /proc/irq"), fix)
	}
	descs, _ := host.ReadInterrupts(st.fs)
	var may, now []string
	unreadable := 0
	for _, q := range irqs {
		if q.Err != nil {
			unreadable++
			continue
		}
		if len(host.Intersect(q.Affinity, st.cands)) == 0 {
			continue
		}
		label := fmt.Sprint(q.Num)
		if d := descs.Desc(q.Num); d != "" {
			f := strings.Fields(d)
			label += " " + f[len(f)-1] // the device name ends the line
		}
		may = append(may, label)
		if len(host.Intersect(q.Effective, st.cands)) > 0 {
			now = append(now, label)
		}
	}
	found := fmt.Sprintf("%d of %d IRQs may be delivered to %s", len(may), len(irqs), st.cl())
	if len(now) > 0 {
		found += fmt.Sprintf(", %d are now (%s)", len(now), abbreviate(now, 6))
	} else if len(may) > 0 {
		found += fmt.Sprintf(" (%s)", abbreviate(may, 6))
	}
	if unreadable > 0 {
		found += fmt.Sprintf("; %d unreadable", unreadable)
	}
	c := Check{ID: id, Group: GroupInterrupts, Name: name, Found: found, Status: OK}
	if len(may) > 0 {
		c.Status, c.Fix = Warn, fix
	}
	return c
}
