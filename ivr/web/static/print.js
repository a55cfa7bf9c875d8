// The guest list's print button (a separate file because the page allows no inline scripts).
document.getElementById("print-button").addEventListener("click", function () {
  window.print();
});
