"""The page at / for a person: pick a user, see recommendations and why, like an item, watch them change."""

PAGE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>turborec</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
 header { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; }
 input { padding: .3rem; } button { padding: .3rem .7rem; cursor: pointer; }
 ol { padding-left: 1.5rem; } li { margin: .4rem 0; }
 .reason { color: #666; font-size: .85rem; } .error { color: #b00; } .muted { color: #888; font-size: .85rem; }
</style></head>
<body>
<h1>turborec</h1>
<p class="muted" id="model">loading model...</p>
<header>
 <label>User <input id="user" list="users" size="12"></label><datalist id="users"></datalist>
 <label>k <input id="k" type="number" value="10" min="1" style="width:4rem"></label>
 <button id="show">Show recommendations</button>
 <label>Token <input id="token" type="password" size="16" placeholder="for likes"></label>
</header>
<p class="error" id="error"></p>
<p class="muted" id="status"></p>
<ol id="recs"></ol>
<script>
let likeValue = 1.0, generation = 0;
const $ = (id) => document.getElementById(id);
function showError(msg) { $("error").textContent = msg || ""; }
async function api(path, opts) {
  const r = await fetch(path, opts);
  const body = await r.json().catch(() => ({error: {message: "bad response"}}));
  if (!r.ok) throw new Error((body.error && body.error.message) || ("HTTP " + r.status));
  return body;
}
function reasonText(reason) {
  if (!reason) return "";
  if (reason.kind === "factors")
    return "top factors: " +
      reason.factors.map(f => "#" + f.factor + " (" + f.contribution.toFixed(3) + ")").join(", ");
  if (reason.kind === "neighbours" && reason.because_of)
    return reason.because_of.length ? "because of: " + reason.because_of.map(b => b.item).join(", ") : "";
  if (reason.kind === "neighbours" && reason.similar_users)
    return "similar users: " + reason.similar_users.map(b => b.user).join(", ");
  if (reason.kind === "popularity") return "popular with everyone";
  return "";
}
async function show(note) {
  showError("");
  const user = $("user").value.trim();
  if (!user) { showError("pick a user"); return; }
  try {
    const r = await api("/v1/users/" + encodeURIComponent(user) + "/recommendations?explain=true&k=" +
                        encodeURIComponent($("k").value));
    const ol = $("recs"); ol.innerHTML = "";
    r.items.forEach((item, t) => {
      const li = document.createElement("li");
      li.dataset.item = String(item);
      const name = document.createElement("strong"); name.textContent = "item " + item;
      const score = document.createElement("span"); score.className = "muted";
      score.textContent = r.scores ? "  score " + r.scores[t].toFixed(3) : "";
      const like = document.createElement("button"); like.textContent = "like"; like.className = "like";
      like.onclick = () => likeItem(user, item);
      const why = document.createElement("div"); why.className = "reason";
      why.textContent = reasonText(r.reasons && r.reasons[t]);
      li.append(name, " ", like, score, why); ol.append(li);
    });
    $("status").textContent = (note ? note + "; " : "") + "source: " + r.source + ", model " + r.model_version;
    $("recs").dataset.user = user;
  } catch (e) { showError(e.message); }
}
async function likeItem(user, item) {
  showError("");
  try {
    const r = await api("/v1/feedback", {method: "POST",
      headers: {"Content-Type": "application/json", "Authorization": "Bearer " + $("token").value},
      body: JSON.stringify({user: user, item: item, value: likeValue, type: "like"})});
    await show("liked item " + item + (r.folded ? " (folded in)" : ""));
    $("recs").dataset.likes = String(Number($("recs").dataset.likes || 0) + 1);
  } catch (e) { showError(e.message); }
}
async function init() {
  try {
    const m = await api("/v1/model");
    likeValue = m.like_value;
    $("model").textContent = m.class + " " + m.version + ": " + m.n_users + " users, " + m.n_items + " items";
    const dl = $("users");
    m.sample_users.forEach(u => { const o = document.createElement("option"); o.value = String(u); dl.append(o); });
    if (m.sample_users.length && !$("user").value) $("user").value = String(m.sample_users[0]);
    document.body.dataset.ready = "1";
  } catch (e) { showError(e.message); }
}
$("show").onclick = () => show();
$("user").addEventListener("keydown", (e) => { if (e.key === "Enter") show(); });
init();
</script>
</body></html>
"""
