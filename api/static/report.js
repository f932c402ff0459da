// The daily report's print button. Bound here, not in an onclick attribute: the pages'
// Content-Security-Policy runs no inline script.
"use strict";
document.getElementById("print").addEventListener("click", () => window.print());
