// Modal dialogs on the native <dialog> element: it traps focus, closes on Escape and is announced as a
// dialog by screen readers, with no code of ours for any of that.

import { h, icon, replace } from "./dom.js";

/**
 * Open a modal with a form. `fields` are the nodes inside the form; `submitLabel` names the main button;
 * `onSubmit(form)` is awaited when the form is sent: throw (or reject) to keep the dialog open and show the
 * error's message in it; resolve to close it (or, with `closeOnSubmit: false`, to keep it open, for a form
 * that shows its answer and can be sent again). Returns { dialog, form, close, showError }.
 */
export function openModal({ title, description = null, fields = [], submitLabel = "OK", cancelLabel = "Cancel", danger = false, onSubmit, wide = false, closeOnSubmit = true }) {
  const error = h("div", { class: "form-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: ["btn", danger ? "btn-danger" : "btn-primary"] }, submitLabel);
  const cancel = h("button", { type: "button", class: "btn", value: "cancel" }, cancelLabel);
  const form = h(
    "form",
    { class: "modal-form", novalidate: true },
    h(
      "div",
      { class: "modal-head" },
      h("h2", null, title),
      h("button", { type: "button", class: "btn btn-ghost btn-icon", "aria-label": "Close", onclick: () => close() }, icon("x")),
    ),
    description ? h("p", { class: "modal-description" }, description) : null,
    h("div", { class: "modal-body" }, fields),
    error,
    h("div", { class: "modal-actions" }, cancel, submit),
  );
  const dialog = h("dialog", { class: ["modal", wide ? "modal-wide" : null] }, form);

  function close() {
    if (dialog.open) dialog.close();
  }
  function showError(message) {
    if (message) {
      replace(error, message);
      error.hidden = false;
    } else {
      error.hidden = true;
      error.replaceChildren();
    }
  }

  cancel.addEventListener("click", close);
  dialog.addEventListener("close", () => dialog.remove());
  // A click on the backdrop (outside the form's box) closes, as users expect of a modal.
  dialog.addEventListener("mousedown", (event) => {
    if (event.target === dialog) {
      const r = form.getBoundingClientRect();
      const inside = event.clientX >= r.left && event.clientX <= r.right && event.clientY >= r.top && event.clientY <= r.bottom;
      if (!inside) close();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    showError(null);
    submit.disabled = true;
    submit.classList.add("busy");
    try {
      await onSubmit(form);
      if (closeOnSubmit) close();
    } catch (err) {
      // `shown`: the form already shows this error next to its field.
      if (!(err && err.shown)) showError(err && err.message ? err.message : String(err));
    } finally {
      submit.disabled = false;
      submit.classList.remove("busy");
    }
  });

  document.body.append(dialog);
  dialog.showModal();
  return { dialog, form, close, showError };
}

/**
 * Ask for confirmation of an action that takes a reason (cancel, terminate): `onConfirm(reason)` is
 * awaited; its error, if any, is shown in the dialog, which stays open.
 */
export function confirmWithReason({ title, description, confirmLabel, cancelLabel = "Back", danger = false, reasonPlaceholder = "", onConfirm }) {
  const reason = h("textarea", { name: "reason", rows: 3, placeholder: reasonPlaceholder, class: "input", maxlength: 2000 });
  const modal = openModal({
    title,
    description,
    submitLabel: confirmLabel,
    cancelLabel,
    danger,
    fields: [h("label", { class: "field" }, h("span", { class: "field-label" }, "Reason (optional, recorded in the history)"), reason)],
    onSubmit: () => onConfirm(reason.value.trim()),
  });
  reason.focus();
  return modal;
}
