// SPDX-License-Identifier: Apache-2.0
/*
 * agentwatch top's full-screen view (top_view.h). Every string reaches the screen through
 * top__fit(): printable ASCII, cut to the columns it has, so that no field, however long or
 * strange, can move the cursor or spill into the next column.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <curses.h>
#include <agentwatch/event.h>

#include "syscalls.h"
#include "top_view.h"

#define VIEW_HEADER_LINES 3 /* two header lines and the column titles */
#define VIEW_MAX_FDS	  256
#define VIEW_LIVE_MAX	  1024
#define VIEW_NAME_MAX	  40 /* widest NAME column; the rest of a wide screen goes elsewhere */
#define KEY_ESC		  27

enum view_tab {
	TAB_PROCS,
	TAB_EVENTS,
	TAB_DENIALS,
	TAB_EGRESS,
	TAB_FILES,
	TAB_SYSCALLS,
	TAB__COUNT,
};

static const char *const tab_names[TAB__COUNT] = {"Processes", "Events", "Denials",
						  "Egress",    "Files",	 "Syscalls"};

struct view {
	struct top_model *m;
	struct top_source *src;
	int delay_ms;
	bool paused, help, drill, filtering;
	char filter_before[TOP_FILTER_LEN];
	char edit[TOP_FILTER_LEN];
	size_t sel, top;       /* list: selected visible row, first row shown */
	struct top_sample cur; /* the selected (or drilled-into) agent */
	bool have_cur;
	bool gone; /* the drilled-into agent is no longer in the snapshot */
	enum view_tab pane;
	size_t scroll;
	struct top_live_proc *live;
	int n_live;
	struct top_syscall_count sys[32];
	int n_sys;
	char msg[128];
};

static volatile sig_atomic_t quit_signal;
static struct termios saved_termios;
static bool have_termios;
static char restore_seq[256]; /* the terminal's own exit-alternate-screen and show-cursor */
static size_t restore_len;

static void on_quit(int sig)
{
	quit_signal = sig;
}

/* A crash must not leave the terminal raw and on the alternate screen. */
static void on_fatal(int sig)
{
	ssize_t unused;

	if (have_termios)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
	unused = write(STDOUT_FILENO, restore_seq, restore_len);
	(void)unused;
	signal(sig, SIG_DFL);
	raise(sig);
}

static void save_restore_sequence(void);

static void restore_terminal(void)
{
	if (!isendwin())
		endwin();
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- drawing helpers ------------------------------------------------------------------------- */

/* Write text at (y, x), cut to the screen, padded with blanks to `width` columns. */
static void put(int y, int x, int width, const char *text, bool right)
{
	char buf[512];
	int n;

	if (y < 0 || y >= LINES || x >= COLS || width <= 0)
		return;
	if (x + width > COLS)
		width = COLS - x;
	if (width >= (int)sizeof(buf))
		width = (int)sizeof(buf) - 1;
	n = top__fit(buf, sizeof(buf), text, width);
	if (right && n < width) {
		memmove(buf + (width - n), buf, (size_t)n + 1);
		memset(buf, ' ', (size_t)(width - n));
		n = width;
	}
	while (n < width)
		buf[n++] = ' ';
	buf[n] = '\0';
	mvaddnstr(y, x, buf, width);
}

static void put_line(int y, const char *text, int attr)
{
	attron(attr);
	put(y, 0, COLS, text, false);
	attroff(attr);
}

static bool have_pods(const struct top_model *m)
{
	for (size_t i = 0; i < m->n_rows; i++)
		if (m->rows[i].s.pod[0] || m->rows[i].s.container[0])
			return true;
	return false;
}

static bool have_syscalls(const struct top_model *m)
{
	for (size_t i = 0; i < m->n_rows; i++)
		if (m->rows[i].s.c.syscalls)
			return true;
	return false;
}

void top_view__layout(int cols, const struct top_model *m, int widths[TOP_COL__COUNT])
{
	/* Where leftover columns go, in order, and how far. */
	static const struct {
		enum top_col col;
		int upto;
	} grow[] = {
		{TOP_COL_NAME, 20},   {TOP_COL_EGRESS, 21},	     {TOP_COL_SESSION, 10},
		{TOP_COL_POD, 22},    {TOP_COL_NAME, VIEW_NAME_MAX}, {TOP_COL_SESSION, 36},
		{TOP_COL_EGRESS, 45},
	};
	int used = -1, c, i;

	for (c = 0; c < TOP_COL__COUNT; c++) {
		widths[c] = top_col__info(c)->min_width;
		if ((c == TOP_COL_POD && !have_pods(m)) ||
		    (c == TOP_COL_SYSCALLS && !have_syscalls(m)))
			widths[c] = 0;
		used += widths[c] ? widths[c] + 1 : 0;
	}
	/* Drop columns, lowest drop_order first, until the rest fits. */
	while (used > cols) {
		int victim = -1;

		for (c = 0; c < TOP_COL__COUNT; c++) {
			const struct top_col_info *ci = top_col__info(c);

			if (widths[c] && ci->drop_order &&
			    (victim < 0 || ci->drop_order < top_col__info(victim)->drop_order))
				victim = c;
		}
		if (victim < 0)
			break; /* what is left cannot go; the screen cuts it */
		used -= widths[victim] + 1;
		widths[victim] = 0;
	}
	for (c = 0; c < TOP_COL__COUNT; c++) {
		int want = top_col__info(c)->width;

		if (widths[c] && c != TOP_COL_NAME && c != TOP_COL_EGRESS && c != TOP_COL_SESSION &&
		    c != TOP_COL_POD && widths[c] < want && used + want - widths[c] <= cols) {
			used += want - widths[c];
			widths[c] = want;
		}
	}
	for (i = 0; i < (int)(sizeof(grow) / sizeof(grow[0])) && used < cols; i++) {
		c = grow[i].col;
		if (widths[c] && widths[c] < grow[i].upto) {
			int add = grow[i].upto - widths[c];

			if (add > cols - used)
				add = cols - used;
			widths[c] += add;
			used += add;
		}
	}
}

static void fmt_opt(char *buf, size_t size, long long v, bool bytes)
{
	if (v < 0)
		snprintf(buf, size, "n/a");
	else if (bytes && v >= 1024)
		snprintf(buf, size, "%.1fMiB", (double)v / (1024.0 * 1024.0));
	else
		top__fmt_count(buf, size, (unsigned long long)v);
}

/* A capability level as the header shows it: "n/a" where the kernel has none. */
static const char *cap_name(const struct top_header *h, enum aw_level level)
{
	if (!h->s.caps_known)
		return "?";
	return level == AW_LEVEL_UNAVAILABLE ? "n/a" : aw_level__name(level);
}

static void draw_header(struct view *v)
{
	const struct top_header *h = &v->m->hdr;
	const struct aw_capabilities *c = &h->s.caps;
	char line[512], ev[16], dr[16], q[16], sp[16], gen[24], clock[16], stale[24] = "";
	char sink[64];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	if (h->s.policy_gen >= 0)
		snprintf(gen, sizeof(gen), "%lld", h->s.policy_gen);
	else
		snprintf(gen, sizeof(gen), "n/a");
	snprintf(line, sizeof(line),
		 "top %s%s  node %s  file:%s exec:%s net:%s sys:%s  policy gen %s  kernel %s",
		 clock, v->paused ? " PAUSED" : "", h->s.node, cap_name(h, c->file),
		 cap_name(h, c->exec), cap_name(h, c->network),
		 !h->s.caps_known	  ? "?"
		 : c->syscall_observation ? "yes"
					  : "n/a",
		 gen, h->s.kernel);
	put_line(0, line, A_BOLD);

	top__fmt_rate(ev, sizeof(ev), h->events);
	top__fmt_rate(dr, sizeof(dr), h->drops);
	if (h->s.sink_known) {
		fmt_opt(q, sizeof(q), h->s.kafka_queue, false);
		fmt_opt(sp, sizeof(sp), h->s.spool_bytes, true);
		snprintf(sink, sizeof(sink), "kafka %s  queue %s  spool %s",
			 h->s.kafka_up ? "up" : "DOWN", q, sp);
	} else {
		snprintf(sink, sizeof(sink), "sink n/a");
	}
	if (h->s.stale_instances)
		snprintf(stale, sizeof(stale), " (%d stale)", h->s.stale_instances);
	snprintf(line, sizeof(line),
		 "agents %zu/%zu  events %s/s  drops %s/s  %s  daemon %s  instances %d%s",
		 v->m->n_visible, v->m->n_rows, h->have_rates ? ev : "-", h->have_rates ? dr : "-",
		 sink, h->s.daemon ? "up" : "n/a", h->s.instances, stale);
	put_line(1, line, 0);
}

static void draw_footer(struct view *v)
{
	char line[256];

	if (v->filtering) {
		snprintf(line, sizeof(line), "filter: %s_   (Enter keep, Esc cancel)", v->edit);
		put_line(LINES - 1, line, A_REVERSE);
		return;
	}
	if (v->msg[0]) {
		put_line(LINES - 1, v->msg, A_REVERSE);
		return;
	}
	if (v->drill) {
		put_line(LINES - 1,
			 "Esc back  Tab,</> pane  1-6 pane  Up/Down scroll  p pause  ? help  q "
			 "quit",
			 A_REVERSE);
		return;
	}
	snprintf(line, sizeof(line),
		 "sort %s%s%s%s%s  q quit ? help / filter s,<> sort r rev "
		 "Enter drill p pause",
		 top_col__info(v->m->sort)->title, v->m->reverse ? " rev" : "",
		 v->m->filter[0] ? "  filter '" : "", v->m->filter, v->m->filter[0] ? "'" : "");
	put_line(LINES - 1, line, A_REVERSE);
}

/* --- the agent list -------------------------------------------------------------------------- */

static void draw_list(struct view *v)
{
	int widths[TOP_COL__COUNT], rows = LINES - VIEW_HEADER_LINES - 1, x, c, y;
	char cell[256];
	size_t i;

	top_view__layout(COLS, v->m, widths);
	attron(A_REVERSE);
	put(2, 0, COLS, "", false);
	/* The sort column's title stands out by being the one not in reverse video. */
	for (x = 0, c = 0; c < TOP_COL__COUNT; c++) {
		const struct top_col_info *ci = top_col__info(c);
		bool sorted = (enum top_col)c == v->m->sort;

		if (!widths[c])
			continue;
		if (sorted)
			attrset(A_BOLD);
		put(2, x, widths[c], ci->title, ci->numeric);
		if (sorted)
			attrset(A_REVERSE);
		x += widths[c] + 1;
	}
	attroff(A_REVERSE);

	if (!v->m->n_visible) {
		put(VIEW_HEADER_LINES + 1, 2, COLS - 2,
		    v->m->n_rows ? "no agent matches the filter (/ to change it)"
				 : "no agents: nothing is pinned under the pin root yet "
				   "(agentwatch run, or agentwatch exec)",
		    false);
		return;
	}
	if (rows < 1)
		return;
	if (v->sel >= v->m->n_visible)
		v->sel = v->m->n_visible - 1;
	if (v->sel < v->top)
		v->top = v->sel;
	if (v->sel >= v->top + (size_t)rows)
		v->top = v->sel - (size_t)rows + 1;
	for (i = v->top, y = VIEW_HEADER_LINES; i < v->m->n_visible && y < LINES - 1; i++, y++) {
		const struct top_row *r = top_model__row(v->m, i);
		int attr = i == v->sel ? A_REVERSE : r->s.c.denials ? A_BOLD : 0;

		attron(attr);
		put(y, 0, COLS, "", false);
		for (x = 0, c = 0; c < TOP_COL__COUNT; c++) {
			if (!widths[c])
				continue;
			top_row__cell(r, c, cell, sizeof(cell));
			put(y, x, widths[c], cell, top_col__info(c)->numeric);
			x += widths[c] + 1;
		}
		attroff(attr);
	}
}

/* --- the drill-in view ----------------------------------------------------------------------- */

static const struct top_row *drill_row(const struct view *v)
{
	int i = top_model__find(v->m, v->cur.instance, v->cur.slot, v->cur.cgroup_id);

	return i >= 0 ? top_model__row(v->m, (size_t)i) : NULL;
}

static void fmt_time(char *buf, size_t size, unsigned long long ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!ms) {
		snprintf(buf, size, "-");
		return;
	}
	localtime_r(&t, &tm);
	strftime(buf, size, "%H:%M:%S", &tm);
}

static void refresh_drill_data(struct view *v)
{
	int n;

	if (!v->live)
		v->live = calloc(VIEW_LIVE_MAX, sizeof(*v->live));
	n = v->live ? top_source__procs(v->src, &v->cur, v->live, VIEW_LIVE_MAX) : -ENOMEM;
	v->n_live = n < 0 ? 0 : n;
	n = top_source__syscalls(v->src, &v->cur, v->sys, sizeof(v->sys) / sizeof(v->sys[0]));
	v->n_sys = n < 0 ? 0 : n;
}

/* Lines of the current pane, produced one at a time; returns false past the end. */
struct pane {
	struct view *v;
	const struct top_agent_events *ev;
	const struct top_tally_entry *t[TOP_TALLY_MAX];
	size_t n;
	struct top_tree_node *tree;
};

static void proc_counts(const struct top_agent_events *ev, unsigned int pid,
			const struct top_proc **out)
{
	*out = NULL;
	for (size_t i = 0; ev && i < ev->n_procs; i++)
		if (ev->procs[i].pid == pid)
			*out = &ev->procs[i];
}

/* The command line with its program's directory left out: "/usr/bin/python3 x" -> "python3 x". */
static const char *command_of(const struct top_live_proc *p)
{
	const char *end, *slash;

	if (!p->cmdline[0])
		return p->comm;
	end = strchr(p->cmdline, ' ');
	if (!end)
		end = p->cmdline + strlen(p->cmdline);
	slash = memrchr(p->cmdline, '/', (size_t)(end - p->cmdline));
	return slash && slash + 1 < end ? slash + 1 : p->cmdline;
}

static const char *disp_name(unsigned int flags)
{
	bool b = flags & (1U << TOP_DISP_BLOCKED), w = flags & (1U << TOP_DISP_WOULD_BLOCK);

	return b && w ? "blocked+audit" : b ? "blocked" : w ? "would-block" : "";
}

/* The title line of the pane, and how many body lines it has. */
static size_t pane_prepare(struct pane *p, char *title, size_t size)
{
	struct view *v = p->v;
	const struct top_agent_events *ev = p->ev;

	switch (v->pane) {
	case TAB_PROCS:
		snprintf(title, size, "%7s %7s %5s %5s %5s %5s  %s", "PID", "PPID", "EXEC", "OPEN",
			 "CONN", "DENY", "COMMAND (live processes in the agent's cgroups)");
		p->tree = calloc((size_t)(v->n_live ? v->n_live : 1), sizeof(*p->tree));
		if (!p->tree)
			return 0;
		for (int i = 0; i < v->n_live; i++) {
			p->tree[i].pid = v->live[i].pid;
			p->tree[i].ppid = v->live[i].ppid;
		}
		top_tree__order(p->tree, (size_t)v->n_live);
		return (size_t)v->n_live;
	case TAB_EVENTS:
		snprintf(title, size, "%-8s %6s %-10s %-7s %-5s %s", "TIME", "PID", "COMM", "WHAT",
			 "OUT", "[RULE] DETAIL   (newest first)");
		return ev ? ev->n_recent : 0;
	case TAB_DENIALS:
		snprintf(title, size, "%6s %-8s %-20s %-7s %-13s %s", "COUNT", "LAST", "RULE",
			 "WHAT", "OUTCOME", "TARGET");
		p->n = ev ? top_tally__sorted(&ev->denials, p->t, TOP_TALLY_MAX) : 0;
		return p->n + (ev && ev->denials.other ? 1 : 0);
	case TAB_EGRESS:
		snprintf(title, size, "%6s %-8s %-5s %-13s %s", "COUNT", "LAST", "PROTO", "OUTCOME",
			 "DESTINATION");
		p->n = ev ? top_tally__sorted(&ev->egress, p->t, TOP_TALLY_MAX) : 0;
		return p->n + (ev && ev->egress.other ? 1 : 0);
	case TAB_FILES:
		snprintf(title, size, "%6s %-8s %-6s %s", "COUNT", "LAST", "ACCESS", "PATH");
		p->n = ev ? top_tally__sorted(&ev->files, p->t, TOP_TALLY_MAX) : 0;
		return p->n + (ev && ev->files.other ? 1 : 0);
	case TAB_SYSCALLS:
		snprintf(title, size, "%12s  %s", "COUNT", "SYSCALL (all time, while observed)");
		return (size_t)v->n_sys;
	default:
		break;
	}
	return 0;
}

static void pane_line(struct pane *p, size_t i, char *line, size_t size)
{
	struct view *v = p->v;
	const struct top_agent_events *ev = p->ev;
	const struct top_tally_entry *t;
	const struct top_recent *r;
	const struct top_proc *pc;
	char when[16];

	switch (v->pane) {
	case TAB_PROCS: {
		const struct top_live_proc *lp = NULL;
		int depth = p->tree[i].depth > 12 ? 12 : p->tree[i].depth;

		for (int k = 0; k < v->n_live; k++)
			if (v->live[k].pid == p->tree[i].pid)
				lp = &v->live[k];
		if (!lp)
			break;
		proc_counts(ev, lp->pid, &pc);
		snprintf(line, size, "%7u %7u %5llu %5llu %5llu %5llu  %*s%s%s", lp->pid, lp->ppid,
			 pc ? pc->execs : 0, pc ? pc->opens : 0, pc ? pc->connects : 0,
			 pc ? pc->denials : 0, 2 * depth, "", depth ? "`- " : "", command_of(lp));
		return;
	}
	case TAB_EVENTS:
		r = top_agent_events__recent(ev, i);
		if (!r)
			break;
		fmt_time(when, sizeof(when), r->time_ms);
		snprintf(line, size, "%-8s %6u %-10.10s %-7s %-5s %s%s%s%s", when, r->pid, r->comm,
			 top_ev_kind__name(r->kind),
			 r->disp == TOP_DISP_BLOCKED	   ? "BLOCK"
			 : r->disp == TOP_DISP_WOULD_BLOCK ? "AUDIT"
							   : "-",
			 r->rule[0] ? "[" : "", r->rule, r->rule[0] ? "] " : "", r->detail);
		return;
	case TAB_DENIALS:
	case TAB_EGRESS:
	case TAB_FILES: {
		const struct top_tally *tl = v->pane == TAB_DENIALS  ? &ev->denials
					     : v->pane == TAB_EGRESS ? &ev->egress
								     : &ev->files;

		if (i >= p->n) {
			snprintf(line, size, "%6llu   (more distinct entries than top keeps)",
				 tl->other);
			return;
		}
		t = p->t[i];
		fmt_time(when, sizeof(when), t->last_ms);
		if (v->pane == TAB_DENIALS) {
			snprintf(line, size, "%6llu %-8s %-20.20s %-7s %-13s %s", t->count, when,
				 t->tag, top_ev_kind__name(t->kind), disp_name(t->flags), t->key);
		} else if (v->pane == TAB_EGRESS) {
			snprintf(line, size, "%6llu %-8s %-5s %-13s %s", t->count, when, t->tag,
				 disp_name(t->flags & ~1U), t->key);
		} else {
			char acc[8] = "";

			if (t->flags & AW_ACC_READ)
				strcat(acc, "r");
			if (t->flags & AW_ACC_WRITE)
				strcat(acc, "w");
			if (t->flags & AW_ACC_CREATE)
				strcat(acc, "c");
			if (t->flags & AW_ACC_TRUNC)
				strcat(acc, "t");
			if (t->flags & AW_ACC_EXEC)
				strcat(acc, "x");
			snprintf(line, size, "%6llu %-8s %-6s %s", t->count, when, acc, t->key);
		}
		return;
	}
	case TAB_SYSCALLS:
		snprintf(line, size, "%12llu  %s", v->sys[i].count,
			 syscalls__name(v->sys[i].nr) ?: "?");
		return;
	default:
		break;
	}
	line[0] = '\0';
}

static void draw_drill(struct view *v)
{
	const struct top_row *r = drill_row(v);
	const struct top_sample *s = r ? &r->s : &v->cur;
	struct pane p = {.v = v};
	char line[1024], a[16], b[16], c[16], d[16], sock[128];
	int y = 2, body, x;
	size_t n, i;

	p.ev = top_model__events(v->m, s->instance, s->agent_uid);
	snprintf(line, sizeof(line),
		 "%s%s  instance %s slot %u  cgroup %llu  session %s  agent %s%s%s%s%s", s->name,
		 v->gone ? " (gone)" : "", s->instance, s->slot, (unsigned long long)s->cgroup_id,
		 s->session[0] ? s->session : "-", s->agent_uid, s->pod[0] ? "  pod " : "", s->pod,
		 s->container[0] ? "  ctr " : "", s->container);
	put_line(y++, line, A_BOLD);
	top__fmt_rate(a, sizeof(a), r && r->have_rates ? r->execs : 0);
	top__fmt_rate(b, sizeof(b), r && r->have_rates ? r->opens : 0);
	top__fmt_rate(c, sizeof(c), r && r->have_rates ? r->connects : 0);
	top__fmt_rate(d, sizeof(d), r && r->have_rates ? r->denials : 0);
	snprintf(line, sizeof(line),
		 "procs %d  execs %llu (%s/s)  forks %llu  opens %llu (%s/s)  connects %llu (%s/s)"
		 "  syscalls %llu  denied %llu (%s/s)  audit %llu  dropped %llu",
		 s->procs, s->c.execs, a, s->c.forks, s->c.opens, b, s->c.connects, c,
		 s->c.syscalls, s->c.denials, d, s->c.would_block, s->c.dropped);
	put_line(y++, line, 0);
	top_source__socket_of(v->src, s->instance, sock, sizeof(sock));
	snprintf(line, sizeof(line),
		 "enforcement %s (file %s, exec %s, network %s)  events %s%llu seen%s%s",
		 top_enforce__name(s->enforce), top_enforce__name(s->enforce_file),
		 top_enforce__name(s->enforce_exec), top_enforce__name(s->enforce_net),
		 top_source__following(v->src, s->instance) ? "" : "NOT FOLLOWED, ",
		 p.ev ? p.ev->seen : 0ULL,
		 top_source__following(v->src, s->instance) ? "" : ": no stream at ",
		 top_source__following(v->src, s->instance) ? "" : sock);
	put_line(y++, line, 0);

	/* The pane tabs. */
	put(y, 0, COLS, "", false);
	for (x = 0, i = 0; i < TAB__COUNT && x < COLS; i++) {
		snprintf(line, sizeof(line), " %zu %s ", i + 1, tab_names[i]);
		if (i == v->pane)
			attron(A_REVERSE);
		put(y, x, (int)strlen(line), line, false);
		if (i == v->pane)
			attroff(A_REVERSE);
		x += (int)strlen(line) + 1;
	}
	y++;
	n = pane_prepare(&p, line, sizeof(line));
	put_line(y++, line, A_UNDERLINE);
	body = LINES - 1 - y;
	if (body < 1)
		goto out;
	if (n <= (size_t)body)
		v->scroll = 0;
	else if (v->scroll > n - (size_t)body)
		v->scroll = n - (size_t)body;
	if (!n) {
		put(y, 2, COLS - 2,
		    v->pane == TAB_PROCS      ? "no live process"
		    : v->pane == TAB_SYSCALLS ? "no syscall counts (syscall observation is off)"
		    : p.ev		      ? "nothing yet"
					      : "no events of this agent since top started",
		    false);
		goto out;
	}
	for (i = v->scroll; i < n && y < LINES - 1; i++) {
		pane_line(&p, i, line, sizeof(line));
		put_line(y++, line, 0);
	}
out:
	free(p.tree);
}

static void draw_help(void)
{
	static const char *const lines[] = {
		"agentwatch top: keys",
		"",
		"  Up/Down j/k PgUp/PgDn Home/End   move the selection, or scroll a pane",
		"  Enter                            drill into the selected agent",
		"  Esc                              back to the list (or close this help)",
		"  s  >                             sort by the next column;  <  the previous",
		"  r                                reverse the sort order",
		"  /                                filter by name, session, pod, egress...",
		"                                   (Enter keeps it, Esc the previous one)",
		"  Tab  1-6                         drill-in panes: processes, events, denials,",
		"                                   egress, files, syscalls",
		"  p                                pause (the screen stays as it is)",
		"  q  Ctrl-C                        quit",
		"",
		"Counters come from the pinned BPF maps; events, denials with rule names,",
		"egress and files from each instance's event stream, since top started.",
	};
	int y0 = 3, w = 0, x0;
	size_t i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		if ((int)strlen(lines[i]) > w)
			w = (int)strlen(lines[i]);
	w += 4;
	if (w > COLS)
		w = COLS;
	x0 = (COLS - w) / 2;
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]) && y0 + (int)i < LINES - 1; i++) {
		attron(A_REVERSE);
		put(y0 + (int)i, x0, w, "", false);
		put(y0 + (int)i, x0 + 2, w - 2, lines[i], false);
		attroff(A_REVERSE);
	}
}

static void draw(struct view *v)
{
	erase();
	draw_header(v);
	if (v->drill)
		draw_drill(v);
	else
		draw_list(v);
	if (v->help)
		draw_help();
	draw_footer(v);
	refresh();
}

/* --- input ----------------------------------------------------------------------------------- */

static void remember_selection(struct view *v)
{
	const struct top_row *r = top_model__row(v->m, v->sel);

	v->have_cur = r != NULL;
	if (r)
		v->cur = r->s;
}

/* After a new snapshot or a new order, keep the same agent selected. */
static void follow_selection(struct view *v)
{
	int i;

	if (v->have_cur) {
		i = top_model__find(v->m, v->cur.instance, v->cur.slot, v->cur.cgroup_id);
		if (i >= 0) {
			v->sel = (size_t)i;
			if (v->drill) {
				v->cur = top_model__row(v->m, (size_t)i)->s;
				v->gone = false;
			}
		} else if (v->drill) {
			v->gone = true;
		}
	}
	if (!v->drill)
		remember_selection(v);
}

static void sort_step(struct view *v, int dir)
{
	int c = (int)v->m->sort;

	c = (c + dir + TOP_COL__COUNT) % TOP_COL__COUNT;
	top_model__set_sort(v->m, (enum top_col)c, v->m->reverse);
	follow_selection(v);
}

static void move_sel(struct view *v, long delta)
{
	long n = (long)v->m->n_visible, s = (long)v->sel + delta;

	if (s >= n)
		s = n - 1;
	if (s < 0)
		s = 0;
	v->sel = (size_t)s;
	remember_selection(v);
}

static void scroll_pane(struct view *v, long delta)
{
	long s = (long)v->scroll + delta;

	v->scroll = s < 0 ? 0 : (size_t)s; /* draw_drill clamps the end */
}

static void filter_key(struct view *v, int ch)
{
	size_t len = strlen(v->edit);

	if (ch == KEY_ESC) {
		top_model__set_filter(v->m, v->filter_before);
		v->filtering = false;
	} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		v->filtering = false;
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		if (len)
			v->edit[len - 1] = '\0';
		top_model__set_filter(v->m, v->edit);
	} else if (ch >= 0x20 && ch < 0x7f && len + 1 < sizeof(v->edit)) {
		v->edit[len] = (char)ch;
		v->edit[len + 1] = '\0';
		top_model__set_filter(v->m, v->edit);
	}
	v->sel = 0;
	v->top = 0;
	remember_selection(v);
}

/* Returns false to quit. */
static bool handle_key(struct view *v, int ch)
{
	int page = LINES - VIEW_HEADER_LINES - 2 > 1 ? LINES - VIEW_HEADER_LINES - 2 : 1;

	v->msg[0] = '\0';
	if (v->filtering) {
		filter_key(v, ch);
		return true;
	}
	if (v->help && ch != 'q') {
		v->help = false; /* any key closes the help */
		return true;
	}
	switch (ch) {
	case 'q':
	case 'Q':
		return false;
	case '?':
	case 'h':
		v->help = true;
		return true;
	case 'p':
	case ' ':
		v->paused = !v->paused;
		return true;
	case KEY_RESIZE:
		return true;
	}
	if (v->drill) {
		switch (ch) {
		case KEY_ESC:
		case KEY_BACKSPACE:
		case KEY_LEFT:
		case 127:
			v->drill = false;
			follow_selection(v);
			break;
		case '\t':
		case '>':
		case KEY_RIGHT:
			v->pane = (v->pane + 1) % TAB__COUNT;
			v->scroll = 0;
			break;
		case KEY_BTAB:
		case '<':
			v->pane = (v->pane + TAB__COUNT - 1) % TAB__COUNT;
			v->scroll = 0;
			break;
		case KEY_UP:
		case 'k':
			scroll_pane(v, -1);
			break;
		case KEY_DOWN:
		case 'j':
			scroll_pane(v, 1);
			break;
		case KEY_PPAGE:
			scroll_pane(v, -page);
			break;
		case KEY_NPAGE:
			scroll_pane(v, page);
			break;
		case KEY_HOME:
			v->scroll = 0;
			break;
		case KEY_END:
			v->scroll = (size_t)-1 / 2;
			break;
		default:
			if (ch >= '1' && ch < '1' + TAB__COUNT) {
				v->pane = (enum view_tab)(ch - '1');
				v->scroll = 0;
			}
			break;
		}
		return true;
	}
	switch (ch) {
	case 's':
	case '>':
		sort_step(v, 1);
		break;
	case '<':
		sort_step(v, -1);
		break;
	case 'r':
		top_model__set_sort(v->m, v->m->sort, !v->m->reverse);
		follow_selection(v);
		break;
	case '/':
		/* A new filter as typed; Esc goes back to the one before. */
		v->filtering = true;
		snprintf(v->filter_before, sizeof(v->filter_before), "%s", v->m->filter);
		v->edit[0] = '\0';
		top_model__set_filter(v->m, "");
		break;
	case KEY_UP:
	case 'k':
		move_sel(v, -1);
		break;
	case KEY_DOWN:
	case 'j':
		move_sel(v, 1);
		break;
	case KEY_PPAGE:
		move_sel(v, -page);
		break;
	case KEY_NPAGE:
		move_sel(v, page);
		break;
	case KEY_HOME:
		move_sel(v, -(long)v->m->n_visible);
		break;
	case KEY_END:
		move_sel(v, (long)v->m->n_visible);
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
		remember_selection(v);
		if (!v->have_cur) {
			snprintf(v->msg, sizeof(v->msg), "no agent selected");
			break;
		}
		v->drill = true;
		v->gone = false;
		v->scroll = 0;
		refresh_drill_data(v);
		break;
	case KEY_ESC:
		if (v->m->filter[0]) {
			top_model__set_filter(v->m, "");
			follow_selection(v);
		}
		break;
	default:
		break;
	}
	return true;
}

/* --- the loop -------------------------------------------------------------------------------- */

static int take_snapshot(struct view *v)
{
	struct top_snapshot snap;
	int err = top_source__snapshot(v->src, &snap);

	if (!err)
		err = top_model__update(v->m, &snap);
	if (!err) {
		follow_selection(v);
		if (v->drill)
			refresh_drill_data(v);
	}
	return err;
}

int top_view__run(struct top_model *m, struct top_source *src, const struct top_view_opts *opts)
{
	static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
	struct sigaction sa = {.sa_handler = on_quit}, fa = {.sa_handler = on_fatal};
	struct view v = {.m = m, .src = src, .delay_ms = opts->delay_ms};
	struct pollfd fds[VIEW_MAX_FDS];
	long long next;
	bool dirty = true;
	int err = 0;
	size_t i;

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return -ENOTTY;
	have_termios = tcgetattr(STDIN_FILENO, &saved_termios) == 0;
	/* No SA_RESTART: a signal must wake poll() at once. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	for (i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &fa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!newterm(NULL, stdout, stdin))
		return -ENOTTY;
	atexit(restore_terminal);
	save_restore_sequence();
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);

	err = take_snapshot(&v);
	next = now_ms() + v.delay_ms;
	while (!err && !quit_signal) {
		long long now = now_ms();
		int nfds = 0, ch, timeout = next > now ? (int)(next - now) : 0;

		if (dirty) {
			draw(&v);
			dirty = false;
		}
		fds[nfds++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
		if (!v.paused)
			nfds += top_source__pollfds(src, fds + nfds, VIEW_MAX_FDS - nfds);
		if (poll(fds, (nfds_t)nfds, timeout) < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		if (!v.paused)
			top_source__dispatch(src, m);
		while ((ch = getch()) != ERR) {
			if (!handle_key(&v, ch)) {
				quit_signal = -1;
				break;
			}
			dirty = true;
		}
		if (fds[0].revents & (POLLHUP | POLLERR))
			break; /* the terminal went away */
		if (now_ms() >= next) {
			if (!v.paused) {
				err = take_snapshot(&v);
				dirty = true;
			}
			next = now_ms() + v.delay_ms;
		}
	}
	endwin();
	free(v.live);
	return err;
}

/* Last, because term.h defines every terminfo capability name as a macro (lines, tab, ...). */
#include <term.h>

static void add_cap(const char *name)
{
	char *s = tigetstr(name);
	size_t n;

	if (!s || s == (char *)-1)
		return;
	n = strlen(s);
	if (restore_len + n < sizeof(restore_seq)) {
		memcpy(restore_seq + restore_len, s, n);
		restore_len += n;
	}
}

static void save_restore_sequence(void)
{
	add_cap("rmcup");
	add_cap("cnorm");
	add_cap("sgr0");
}
