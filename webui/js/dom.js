// DOM helpers. Everything that comes from data becomes a text node; nothing here parses HTML.

const SVG_NS = "http://www.w3.org/2000/svg";
// Properties set directly (they reflect live state rather than markup).
const PROPS = new Set(["value", "checked", "disabled", "selected", "hidden", "required", "readOnly", "multiple"]);

function apply(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "on") {
      for (const [type, handler] of Object.entries(value)) node.addEventListener(type, handler);
    } else if (key === "class") {
      node.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (key === "dataset") {
      for (const [name, v] of Object.entries(value)) node.dataset[name] = String(v);
    } else if (/^on/i.test(key) || key === "style" || key === "srcdoc") {
      throw new Error(`el(): attribute ${key} is not allowed`);
    } else if (key === "href" && !/^#/.test(String(value))) {
      throw new Error("el(): only in-app (#…) links are allowed");
    } else if (PROPS.has(key)) {
      node[key] = value;
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** el("td", {class: "x"}, "text", otherNode): strings always become text nodes. */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  apply(node, attrs);
  append(node, children);
  return node;
}

/** The same for SVG elements. */
export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  apply(node, attrs);
  append(node, children);
  return node;
}

/** Replace the children of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

let counter = 0;
/** A unique id for label/input pairs. */
export function uid(prefix = "f") {
  counter += 1;
  return `${prefix}-${counter}`;
}
