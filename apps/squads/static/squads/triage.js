// Queue triage from the keyboard: j/k move, x select, c claim, s snooze, e complete, a assign,
// ? help. Actions post with htmx and swap the list; the list also refreshes itself every few
// seconds. The position (the current item) and the selection survive every swap.
(function () {
  "use strict";

  var state = { currentId: null, currentIndex: 0, selected: new Set(), returnFocus: false };

  function list() { return document.getElementById("triage"); }
  function rows() { var l = list(); return l ? Array.prototype.slice.call(l.querySelectorAll("tr[data-item]")) : []; }
  function openDialog() { return document.querySelector("dialog[open]"); }

  // htmx swaps our own refusals too (400 bad input, 403 not allowed, 409 taken or at capacity):
  // they carry the refreshed list and the reason.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 400 || status === 403 || status === 409) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
    var l = list();
    if (l && event.detail.target === l) {
      var active = document.activeElement;
      state.returnFocus = state.returnFocus || !!(active && l.contains(active));
    }
  });

  function setCurrent(row, focus) {
    rows().forEach(function (r) { r.classList.remove("current"); });
    if (!row) { state.currentId = null; return; }
    row.classList.add("current");
    state.currentId = row.getAttribute("data-item");
    state.currentIndex = rows().indexOf(row);
    if (focus) {
      row.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function currentRow() {
    return state.currentId ? document.getElementById("item-" + state.currentId) : null;
  }

  function restore() {
    var all = rows();
    all.forEach(function (row) {
      var box = row.querySelector("input.select");
      var id = row.getAttribute("data-item");
      if (box) box.checked = state.selected.has(id);
    });
    // Items that left the list (completed, or moved out) are no longer selected.
    var present = new Set(all.map(function (row) { return row.getAttribute("data-item"); }));
    state.selected.forEach(function (id) { if (!present.has(id)) state.selected.delete(id); });
    updateBulkBar();
    var row = currentRow();
    if (!row && all.length && state.currentId !== null) {
      row = all[Math.min(state.currentIndex, all.length - 1)];
    }
    var focus = state.returnFocus && !openDialog();
    setCurrent(row || null, focus);
    if (state.returnFocus && !row && list()) list().focus();
    state.returnFocus = false;
  }

  document.addEventListener("htmx:afterSettle", restore);

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var row = currentRow();
    var index = row ? all.indexOf(row) + step : 0;
    index = Math.max(0, Math.min(all.length - 1, index));
    setCurrent(all[index], true);
  }

  function targets() {
    if (state.selected.size) return Array.from(state.selected);
    return state.currentId ? [state.currentId] : [];
  }

  function fillItems(form, ids) {
    var holder = form.querySelector("[data-items]");
    holder.textContent = "";
    ids.forEach(function (id) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "item";
      input.value = id;
      holder.appendChild(input);
    });
  }

  function subject(ids) {
    if (ids.length !== 1) return ids.length + " selected items";
    var row = document.getElementById("item-" + ids[0]);
    return row ? "“" + row.getAttribute("data-title") + "”" : "the item";
  }

  function act(action, ids) {
    if (!ids.length) return;
    state.returnFocus = true;
    if (action === "claim") {
      var form = document.getElementById("quick-action");
      form.querySelector("[name=action]").value = action;
      fillItems(form, ids);
      if (state.selected.size) clearSelection();
      htmx.trigger(form, "submit");
      return;
    }
    var dialog = document.getElementById(action + "-dialog");
    if (!dialog) return;
    var dialogForm = dialog.querySelector("form");
    dialogForm.reset();
    fillItems(dialogForm, ids);
    dialog.querySelector("[data-subject]").textContent = subject(ids);
    if (action === "assign") {
      // Only the members of the item's squad can take it (one item), any squad's otherwise.
      var squads = new Set(ids.map(function (id) {
        var row = document.getElementById("item-" + id);
        return row ? row.getAttribute("data-squad") : "";
      }));
      dialog.querySelectorAll("optgroup").forEach(function (group) {
        var hide = squads.size === 1 && !squads.has(group.getAttribute("data-squad"));
        group.hidden = hide;
        group.disabled = hide;
      });
      var first = dialog.querySelector("optgroup:not([disabled]) option");
      if (first) first.selected = true;
    }
    dialog.showModal();
  }

  function clearSelection() {
    state.selected.clear();
    rows().forEach(function (row) {
      var box = row.querySelector("input.select");
      if (box) box.checked = false;
    });
    updateBulkBar();
  }

  function toggleSelected(id, on) {
    if (on) state.selected.add(id); else state.selected.delete(id);
    var box = document.querySelector("#item-" + id + " input.select");
    if (box) box.checked = on;
    updateBulkBar();
  }

  function updateBulkBar() {
    var count = state.selected.size;
    var label = document.querySelector("[data-selected-count]");
    if (label) label.textContent = count ? count + " selected" : "No items selected";
    document.querySelectorAll("#bulkbar button").forEach(function (button) { button.disabled = !count; });
  }

  function closeDialog(dialog) {
    dialog.close();
  }

  document.addEventListener("close", function (event) {
    if (event.target.tagName !== "DIALOG") return;
    var row = currentRow();
    if (row) row.focus({ preventScroll: true });
  }, true);

  // A dialog's form closes its dialog once the server has answered (the list is swapped).
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-dialog-form")) return;
    var dialog = form.closest("dialog");
    if (state.selected.size) clearSelection();
    state.returnFocus = true;
    if (dialog && dialog.open) closeDialog(dialog);
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target : event.target.parentElement;
    var button = target && target.closest("button");
    if (button && button.hasAttribute("data-close")) { closeDialog(button.closest("dialog")); return; }
    if (button && button.hasAttribute("data-open-help")) { document.getElementById("help-dialog").showModal(); return; }
    if (button && button.hasAttribute("data-clear-selection")) { clearSelection(); return; }
    if (button && button.hasAttribute("data-act")) {
      var row = button.closest("tr[data-item]");
      if (row) setCurrent(row, false);
      act(button.getAttribute("data-act"), button.hasAttribute("data-bulk") ? Array.from(state.selected) : (row ? [row.getAttribute("data-item")] : []));
      return;
    }
    var clicked = target && target.closest("tr[data-item]");
    if (clicked) setCurrent(clicked, false);
  });

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.classList || !box.classList.contains("select")) return;
    toggleSelected(box.value, box.checked);
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (openDialog()) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName) && target.type !== "checkbox")) return;
    var handled = true;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "x": if (state.currentId) toggleSelected(state.currentId, !state.selected.has(state.currentId)); break;
      case "c": act("claim", targets()); break;
      case "s": act("snooze", targets()); break;
      case "e": act("complete", targets()); break;
      case "a": act("assign", targets()); break;
      case "?": document.getElementById("help-dialog").showModal(); break;
      default: handled = false;
    }
    if (handled) event.preventDefault();
  });

  window.fullfieldTriage = {
    // The list refreshes unless a dialog is open, the tab is hidden or a request is running.
    mayRefresh: function () {
      return !openDialog() && document.visibilityState === "visible" && !document.querySelector(".htmx-request");
    }
  };

  document.addEventListener("DOMContentLoaded", function () { updateBulkBar(); });
})();
