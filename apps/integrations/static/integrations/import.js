// CSV import form: read the chosen file's header row in the browser (only its first 64 KB) and
// offer, for each of our fields, a choice of the file's columns. The choices travel as the
// `mapping` field ({"our_field": "their header"}); without script the headers must be our names.
(function () {
  "use strict";
  var form = document.getElementById("import-form");
  if (!form) return;
  var fileInput = form.querySelector("input[type=file]");
  var entitySelect = form.querySelector("select[name=entity]");
  var mappingInput = form.querySelector("input[name=mapping]");
  var fieldset = document.getElementById("mapping");
  var rows = document.getElementById("mapping-rows");
  var fields = JSON.parse(document.getElementById("entity-fields").textContent);
  var header = [];

  function parseHeader(text) {
    var line = text.replace(/^\uFEFF/, "").split(/\r\n|\n|\r/)[0] || "";
    var cells = [], cell = "", quoted = false;
    for (var i = 0; i < line.length; i++) {
      var c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') { cell += '"'; i++; }
        else if (c === '"') quoted = false;
        else cell += c;
      } else if (c === '"') quoted = true;
      else if (c === ",") { cells.push(cell.trim()); cell = ""; }
      else cell += c;
    }
    cells.push(cell.trim());
    return cells.filter(function (name) { return name !== ""; });
  }

  function normalise(name) { return name.toLowerCase().replace(/[^a-z0-9]/g, ""); }

  function render() {
    rows.textContent = "";
    var spec = fields[entitySelect.value];
    if (!spec || header.length === 0) { fieldset.hidden = true; return; }
    spec.fields.forEach(function (field) {
      var id = "map-" + field;
      var wrap = document.createElement("div");
      var label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = field + (spec.required.indexOf(field) >= 0 ? " (required)" : "");
      var select = document.createElement("select");
      select.id = id;
      select.dataset.field = field;
      var none = document.createElement("option");
      none.value = "";
      none.textContent = "— not in this file —";
      select.appendChild(none);
      header.forEach(function (name) {
        var option = document.createElement("option");
        option.value = name;
        option.textContent = name;
        if (normalise(name) === normalise(field)) option.selected = true;
        select.appendChild(option);
      });
      wrap.appendChild(label);
      wrap.appendChild(select);
      rows.appendChild(wrap);
    });
    fieldset.hidden = false;
  }

  fileInput.addEventListener("change", function () {
    header = [];
    var file = fileInput.files && fileInput.files[0];
    if (!file) { render(); return; }
    file.slice(0, 65536).text().then(function (text) { header = parseHeader(text); render(); });
  });
  entitySelect.addEventListener("change", render);
  form.addEventListener("submit", function () {
    if (fieldset.hidden) { mappingInput.value = ""; return; }
    var mapping = {};
    rows.querySelectorAll("select").forEach(function (select) {
      if (select.value) mapping[select.dataset.field] = select.value;
    });
    mappingInput.value = JSON.stringify(mapping);
  });
})();
