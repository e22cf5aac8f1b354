// Placeholder: the web UI is being built (issue 4).
document.getElementById("app").textContent = "The Mainspring web UI is not built yet; use the CLI or the API (/api/v1/docs).";
