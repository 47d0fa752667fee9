// The little the pages do with JavaScript: times in the viewer's zone, and copy buttons.
// Without it, times read in UTC and the address is selected by hand.
"use strict";
var times = document.querySelectorAll("time[datetime]");
var note = document.querySelector(".times-note");
if (note && times.length) { note.hidden = false; }  // said only where there are times, and they are local
times.forEach(function (el) {
  var when = new Date(el.getAttribute("datetime"));
  if (!isNaN(when)) {
    el.textContent = when.toLocaleString(document.documentElement.lang || undefined, { dateStyle: "medium", timeStyle: "short" });
  }
});
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  var field = document.getElementById(button.getAttribute("data-copy"));
  var said = button.parentElement.querySelector(".copied");
  button.hidden = false;
  button.addEventListener("click", function () {
    var text = field.value !== undefined ? field.value : field.textContent.trim();
    var range = document.createRange();
    range.selectNodeContents(field);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    var done = function () { if (said) { said.textContent = button.getAttribute("data-copied") || "Copied"; } };
    if (navigator.clipboard) {
      navigator.clipboard.writeText(text).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
});
