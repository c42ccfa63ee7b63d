/** The dashboard's stylesheet (served as /dashboard/style.css): plain CSS, no framework. */
export const DASHBOARD_STYLE = `
:root {
  --ink: #1a202c; --muted: #5a6474; --line: #d9dee5; --panel: #f6f8fa; --accent: #2b6cb0;
  --danger: #c53030; --ok: #2f855a; --alarm-bg: #fff5f5;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
}
* { box-sizing: border-box; }
body { margin: 0; background: #fff; }
h1 { font-size: 20px; margin: 0; }
h2 { font-size: 18px; margin: 0 0 12px; }
h3 { font-size: 15px; margin: 0; }
[hidden] { display: none !important; }
button { font: inherit; padding: 4px 10px; border: 1px solid var(--accent); border-radius: 4px; background: var(--accent); color: #fff; cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
button.quiet { background: #fff; color: var(--accent); }
button.danger { background: var(--danger); border-color: var(--danger); }
td.actions button { background: #fff; color: var(--accent); padding: 2px 8px; margin-right: 4px; }
td.actions button.danger { color: var(--danger); border-color: var(--danger); }
input, textarea, select { font: inherit; padding: 4px 6px; border: 1px solid var(--line); border-radius: 4px; }
textarea { width: 100%; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
label { display: block; margin: 8px 0; }
label > span { display: block; color: var(--muted); font-size: 12px; margin-bottom: 2px; }
label.inline { display: inline-flex; gap: 6px; align-items: center; margin-right: 16px; }
fieldset.modes { border: 0; padding: 0; margin: 8px 0; }
fieldset.modes legend { color: var(--muted); font-size: 12px; padding: 0; }

header.top { display: flex; align-items: center; gap: 16px; padding: 10px 20px; border-bottom: 1px solid var(--line); background: var(--panel); }
header.top .version { color: var(--muted); font-size: 12px; }
header.top nav { display: flex; gap: 4px; margin-left: 16px; }
header.top nav a { padding: 6px 12px; border-radius: 4px; color: var(--ink); text-decoration: none; }
header.top nav a[aria-current=page] { background: var(--accent); color: #fff; }
header.top .spacer { flex: 1; }
header.top .who { color: var(--muted); }
main { padding: 16px 20px; }

.alarm { margin: 12px 20px 0; padding: 12px 16px; border: 2px solid var(--danger); border-radius: 6px; background: var(--alarm-bg); color: var(--danger); font-size: 16px; }
.status { margin: 0 20px; min-height: 0; }
.status.failed { margin-top: 8px; color: var(--danger); }

.totals { display: flex; flex-wrap: wrap; gap: 12px; margin: 0 0 16px; }
.totals > div { min-width: 130px; padding: 10px 14px; border: 1px solid var(--line); border-radius: 6px; background: var(--panel); }
.totals dt { color: var(--muted); font-size: 12px; }
.totals dd { margin: 0; font-size: 22px; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
.chart { margin: 0; padding: 10px; border: 1px solid var(--line); border-radius: 6px; min-width: 0; }
.chart figcaption { font-weight: 600; margin-bottom: 6px; }
.chart-body { width: 100%; overflow: hidden; }

.toolbar { display: flex; align-items: center; gap: 8px; margin-bottom: 8px; }
.toolbar input[type=search] { width: 260px; }
.toolbar .summary { color: var(--muted); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: anywhere; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: var(--panel); }
.numeric { text-align: right; font-variant-numeric: tabular-nums; }
td.actions { white-space: nowrap; }

.panel { margin: 0 0 16px; padding: 12px 16px; border: 1px solid var(--accent); border-radius: 6px; background: var(--panel); max-width: 760px; }
.panel > header { display: flex; justify-content: space-between; align-items: center; margin-bottom: 8px; }
.panel table { background: #fff; }
.hint { color: var(--muted); margin: 4px 0; }
.outcome { margin: 8px 0 0; min-height: 1em; }
.outcome.ok { color: var(--ok); }
.outcome.failed { color: var(--danger); }
.message { margin-top: 10px; padding: 8px; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
.message .facts { margin: 0 0 6px; color: var(--muted); font-size: 12px; }
.message pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 13px; }
.message pre.properties { margin-top: 6px; color: var(--muted); }

main.sign-in { max-width: 380px; margin: 80px auto; padding: 24px; border: 1px solid var(--line); border-radius: 8px; }
main.sign-in input[type=text], main.sign-in input[type=password] { width: 100%; }
main.sign-in .outcome:empty { display: none; }
`;
