import { Router } from "express";
export function openapiApi(): Router {
  return Router();
}
